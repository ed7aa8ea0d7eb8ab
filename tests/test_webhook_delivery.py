"""Webhooks end to end with real Uploader processes: a receiver on loopback that fails a third of
deliveries (500s, no answer within the timeout, reset connections) by a fixed pattern, and the
Uploader delivering one of them SIGKILLed mid-call. Every committed event arrives at least
once, verified with the `standardwebhooks` package, under its own id; a rolled-back change's
events never arrive. And a real run's changes (assigned, published) reach an endpoint."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import grpc
import psycopg

from queuelabs.uploader.v1 import uploader_pb2 as upb
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub
from tests.support.calls import due_contents
from tests.support.polling import until
from tests.support.processes import ServiceProcess, service_process, unanswered_address
from tests.support.receiver import Receiver, Reply, a_third_fail, data_of, receiving
from tests.support.stack import running_stack
from tests.support.webhooks import tell
from uploader.settings import WebhookSettings


@contextmanager
def uploader(database_url: str) -> Iterator[ServiceProcess]:
    with (
        unanswered_address() as nowhere,  # no Allocator or Upload-Post call is made here
        service_process(
            "uploader",
            "UPLOADER_LISTEN",
            DATABASE_URL=database_url,
            ALLOCATOR_ADDR=nowhere,
            UPLOAD_POST_BASE_URL=f"http://{nowhere}/api",
            UPLOAD_POST_API_KEY="unused",
            UPLOADER_IDLE_SECONDS="0.05",
            WEBHOOKS_ALLOW_PRIVATE="true",
            WEBHOOKS_TIMEOUT_SECONDS="1",
            WEBHOOKS_LEASE_SECONDS="3",
            WEBHOOKS_RETRY_SCALE="0.001",  # 5 s, 5 min, 30 min: 5 ms, 0.3 s, 1.8 s
        ) as running,
    ):
        yield running


async def create_endpoint(address: str, receiver: Receiver) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        created = await UploaderStub(channel).CreateWebhookEndpoint(
            upb.CreateWebhookEndpointRequest(url=receiver.url, description="at least once")
        )
    receiver.secrets = [created.secret]


def rolled_back(database_url: str, count: int) -> list[str]:
    """Writes events in a transaction that then rolls back (its change failed); their ids."""
    with psycopg.connect(database_url) as conn:
        conn.execute("select 1")  # the transaction begins; tell's own is a savepoint inside
        ids = tell(conn, count)
        conn.rollback()
    return ids


def delivered(db) -> int:
    (count,) = db.execute(
        "select count(*) from webhook_deliveries where delivered_at is not null"
    ).fetchone()
    return int(count)


async def test_every_event_arrives_verified_despite_failures_and_a_killed_sender(database_url, db):
    held: list[str] = []
    third = a_third_fail()

    def script(event_id: str, nth: int) -> Reply:
        if not held:  # the first request of the run waits: its sender is killed meanwhile
            held.append(event_id)
            return Reply.HOLD
        return third(event_id, nth)

    async with receiving(script) as receiver:
        with uploader(database_url) as first:
            await create_endpoint(first.address, receiver)
            committed = [event for _ in range(10) for event in tell(db, 3)]
            never = rolled_back(database_url, 3)
            await until(lambda: receiver.held == 1)
            first.process.send_signal(signal.SIGKILL)  # mid-delivery: no answer recorded
            first.process.wait(timeout=10)
        receiver.release.set()  # the killed sender's request ends; nobody hears its answer
        with uploader(database_url), uploader(database_url):  # two replicas carry on
            await until(lambda: delivered(db) == len(committed))

    assert receiver.unverified == []
    assert set(receiver.seen).isdisjoint(never)
    assert set(receiver.answered) == set(committed)
    for event_id, received in receiver.answered.items():
        assert received.headers["webhook-id"] == event_id
        assert data_of(received)["event_id"] == event_id
    assert receiver.seen[held[0]] >= 2  # sent again under its id after the kill
    faults = {reply for _, reply in receiver.replies if reply not in (Reply.OK, Reply.HOLD)}
    assert {Reply.ERROR, Reply.NO_ANSWER, Reply.RESET} <= faults
    # A third of the first tries failed (the held one's went to no pattern).
    assert receiver.failed == (len(committed) - 1) // 3
    (given_up,) = db.execute(
        "select count(*) from webhook_deliveries where given_up_at is not null"
    ).fetchone()
    assert given_up == 0


async def test_the_changes_of_a_real_run_reach_the_endpoint_each_as_its_event(database_url):
    settings = WebhookSettings(allow_private=True, timeout=2, lease=timedelta(seconds=5))
    async with (
        running_stack(database_url, ahead=timedelta(0), daily_caps={}, webhooks=settings) as stack,
        receiving() as receiver,
    ):
        created = await stack.uploader.CreateWebhookEndpoint(
            upb.CreateWebhookEndpointRequest(
                url=receiver.url, types=["content.assigned", "upload.published"]
            )
        )
        receiver.secrets = [created.secret]
        _, contents = await due_contents(stack.allocator, database_url, 2, "0 s", "1 s")
        stack.clock.advance(timedelta(seconds=30))  # both due (the receiver allows 5 minutes)
        stack.uploader_server.claimer.wake()

        def told() -> list[tuple[str, str]]:
            return sorted(
                (json.loads(r.body)["type"], data_of(r)["content_id"])
                for r in receiver.answered.values()
            )

        wanted = sorted((t, c) for t in ("content.assigned", "upload.published") for c in contents)
        await until(lambda: told() == wanted)
    assert receiver.unverified == []
    published = [r for r in receiver.answered.values() if b"upload.published" in r.body]
    assert all(data_of(r)["post_url"].startswith("https://") for r in published)
