"""The webhook sender on a real PostgreSQL, calling real receivers on loopback that verify with
the `standardwebhooks` package: every event arrives signed under its own id, a failure is tried
again under the same id on the schedule, 410 and a day of failures disable the endpoint (and
say so in the log), a slow endpoint never holds back another, a rotated-out secret signs until
its time, and a delivery whose sender died goes again."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from queuelabs.events import EventType
from tests.support.databases import lock_waiters
from tests.support.polling import until
from tests.support.receiver import Reply, always, data_of, receiving
from tests.support.webhooks import open_hooks, tell
from uploader.webhooks.policy import ATTEMPTS, DISABLE_AFTER, GONE_REASON, JITTER, RETRY_DELAYS
from uploader.workers.webhook_sender import WebhookSender


@pytest.fixture
async def hooks(database_url):
    async with open_hooks(database_url) as opened:
        yield opened


def attempts(db, event_id: str) -> list[tuple[int, int | None, str, bool]]:
    return db.execute(
        "select attempt, http_status, error, delivered from webhook_attempts"
        " where event_id = %s order by attempt",
        (event_id,),
    ).fetchall()


async def test_each_event_arrives_once_signed_under_its_own_id(hooks, db):
    async with receiving() as receiver:
        endpoint = await hooks.endpoint(receiver)
        ids = tell(db, 3)
        await hooks.plan(3)
        assert await hooks.deliver(hooks.sender()) == 3
        assert receiver.unverified == []
        assert set(receiver.answered) == set(ids)
        assert dict(receiver.seen) == dict.fromkeys(ids, 1)
        received = receiver.answered[ids[0]]
        payload = json.loads(received.body)
        assert payload["type"] == "upload.published"
        assert payload["timestamp"].endswith("Z")
        assert data_of(received)["post_url"] == "u"
        assert data_of(received)["platform"] == "tiktok"
        assert received.headers["webhook-signature"].startswith("v1,")
        assert await hooks.deliver(hooks.sender()) == 0  # and delivered once
    assert attempts(db, ids[0]) == [(1, 204, "", True)]
    cursors = [data_of(receiver.answered[i])["cursor"] for i in ids]
    assert cursors == sorted(cursors)  # the log's order, for a receiver that needs one
    assert endpoint.endpoint_id is not None


async def test_a_failure_is_tried_again_under_the_same_id_on_the_schedule(hooks, db):
    replies = iter([Reply.ERROR, Reply.RESET, Reply.NO_ANSWER, Reply.OK])
    async with receiving(lambda _id, _nth: next(replies)) as receiver:
        await hooks.endpoint(receiver)
        receiver.verifying = False  # the clock jumps half an hour: see Receiver.verifying
        [event_id] = tell(db)
        await hooks.plan(1)
        sender = hooks.sender()
        for attempt, step in enumerate(RETRY_DELAYS[:3], start=1):
            assert await hooks.deliver(sender) == 1
            assert await hooks.deliver(sender) == 0  # not due before its time
            (next_at,) = db.execute(
                "select next_attempt_at from webhook_deliveries where event_id = %s",
                (event_id,),
            ).fetchone()
            waited = next_at - hooks.clock.now()
            assert step * (1 - JITTER) <= waited <= step * (1 + JITTER), attempt
            hooks.clock.set(next_at)
        assert await hooks.deliver(sender) == 1
    assert receiver.seen == {event_id: 4}  # one id, every time
    assert [(a, status, delivered) for a, status, _, delivered in attempts(db, event_id)] == [
        (1, 500, False),
        (2, None, False),
        (3, None, False),
        (4, 204, True),
    ]
    errors = [error for _, _, error, _ in attempts(db, event_id)]
    assert errors[0] == "HTTP 500"
    assert errors[2] == "no answer within 1 s"
    assert errors[1]
    assert errors[3] == ""


async def test_410_gone_disables_the_endpoint_and_tells_the_log(hooks, db):
    async with receiving(always(Reply.GONE)) as receiver:
        endpoint = await hooks.endpoint(receiver)
        tell(db, 2)
        await hooks.plan(2)
        assert await hooks.deliver(hooks.sender(per_endpoint=1)) == 1
        assert await hooks.deliver(hooks.sender()) == 0  # disabled: nothing more goes
    disabled = db.execute(
        "select disabled_at is not null, disabled_reason from webhook_endpoints"
    ).fetchone()
    assert disabled == (True, GONE_REASON)
    told = db.execute(
        "select content_id, profile_id, platform, data from events where type = %s",
        (EventType.WEBHOOK_ENDPOINT_DISABLED.value,),
    ).fetchall()
    assert told == [
        (
            None,
            None,
            None,
            {"endpoint_id": str(endpoint.endpoint_id), "url": receiver.url, "reason": GONE_REASON},
        )
    ]


async def test_a_day_of_failures_in_a_row_disables_the_endpoint(hooks, db):
    async with receiving(always(Reply.ERROR)) as receiver:
        await hooks.endpoint(receiver)
        receiver.verifying = False  # the clock jumps a day: see Receiver.verifying
        [event_id] = tell(db)
        await hooks.plan(1)
        sender = hooks.sender()
        started = hooks.clock.now()
        for _ in range(ATTEMPTS):
            assert await hooks.deliver(sender) == 1
            (next_at,) = db.execute("select next_attempt_at from webhook_deliveries").fetchone()
            hooks.clock.set(max(next_at, hooks.clock.now()))
    assert receiver.seen == {event_id: ATTEMPTS}
    assert hooks.clock.now() - started > DISABLE_AFTER  # the schedule spans more than a day
    given_up, disabled, reason = db.execute(
        "select d.given_up_at is not null, e.disabled_at is not null, e.disabled_reason"
        " from webhook_deliveries d join webhook_endpoints e using (endpoint_id)"
    ).fetchone()
    assert (given_up, disabled) == (True, True)
    assert reason.startswith(f"{ATTEMPTS} deliveries failed in a row over 2")
    assert attempts(db, event_id)[-1][2] == f"HTTP 500; gave up after {ATTEMPTS} attempts"
    [(data,)] = db.execute(
        "select data from events where type = %s", (EventType.WEBHOOK_ENDPOINT_DISABLED.value,)
    ).fetchall()
    assert data["reason"] == reason


async def test_a_slow_endpoint_never_holds_back_another(hooks, db):
    async with receiving(always(Reply.HOLD)) as slow, receiving() as fast:
        await hooks.endpoint(slow)
        await hooks.endpoint(fast)
        ids = tell(db, 12)
        await hooks.plan(24)
        sender: WebhookSender = hooks.sender(max_in_flight=4, per_endpoint=2)
        for _ in range(12):  # turns, each taking what room there is
            await sender.send_due()
            await until(lambda: sender.in_flight == slow.held)  # the fast ones are done
        # Every one of the fast endpoint's events went while the slow one's first requests
        # were still open: the slow endpoint took its share of the room, no more.
        assert set(fast.answered) == set(ids)
        assert slow.held == 2
        assert sum(slow.seen.values()) == 2
        slow.release.set()
        await until(lambda: sender.in_flight == 0)


async def test_a_rotated_out_secret_signs_beside_the_new_one_until_its_time(hooks, db):
    now = datetime.now(UTC)
    async with receiving() as receiver:
        endpoint = await hooks.endpoint(receiver)
        old = receiver.secrets[0]
        hooks.clock.set(now - timedelta(hours=2))
        rotation = await hooks.service.rotate_secret(endpoint.endpoint_id, timedelta(hours=3))
        assert rotation.previous_secret_expires_at == now + timedelta(hours=1)
        hooks.clock.set(now)  # the old secret still has an hour
        receiver.secrets = [rotation.secret]
        [both] = tell(db)
        await hooks.plan(1)
        await hooks.deliver(hooks.sender())
        signed = receiver.answered[both]
        assert len(signed.headers["webhook-signature"].split(" ")) == 2
        receiver.secrets = [old]
        assert receiver.verify(signed.body, signed.headers)  # the old one alone verifies

        hooks.clock.set(now - timedelta(hours=2))
        newer = await hooks.service.rotate_secret(endpoint.endpoint_id, timedelta(hours=1))
        hooks.clock.set(now)  # the one rotated out has run out
        receiver.secrets = [newer.secret]
        [one] = tell(db)
        await hooks.plan(1)
        await hooks.deliver(hooks.sender())
        signed = receiver.answered[one]
        assert len(signed.headers["webhook-signature"].split(" ")) == 1
        receiver.secrets = [rotation.secret]
        with pytest.raises(Exception, match="no secret"):
            receiver.verify(signed.body, signed.headers)
    assert receiver.unverified == []


async def test_a_private_target_is_refused_again_at_sending(hooks, db):
    async with receiving() as receiver:
        await hooks.endpoint(receiver)  # allowed when it was created
        [event_id] = tell(db)
        await hooks.plan(1)
        await hooks.deliver(hooks.sender(allow_private=False))
    assert receiver.seen == {}
    [(attempt, status, error, delivered)] = attempts(db, event_id)
    assert (attempt, status, delivered) == (1, None, False)
    assert "not sent: the url its host '127.0.0.1' resolves to 127.0.0.1 is a loopback" in error


async def test_a_delivery_whose_sender_died_goes_again_under_its_id_after_the_lease(hooks, db):
    async with receiving() as receiver:
        await hooks.endpoint(receiver)
        [event_id] = tell(db)
        await hooks.plan(1)
        now = hooks.clock.now()
        async with hooks.store.transaction() as tx:  # a sender that then died mid-call
            [held] = await tx.claim_webhook_deliveries(
                5, 5, "dead", now, now + timedelta(minutes=1)
            )
        sender = hooks.sender()
        assert await hooks.deliver(sender) == 0  # its lease still runs
        hooks.clock.advance(timedelta(minutes=1))
        assert await hooks.deliver(sender) == 1
    assert receiver.seen == {event_id: 1}
    assert str(held.event_id) == event_id
    assert [(a, s, d) for a, s, _, d in attempts(db, event_id)] == [
        (1, None, False),
        (2, 204, True),
    ]
    assert attempts(db, event_id)[0][2].startswith("no answer recorded")


async def test_a_claim_beside_another_open_one_takes_other_rows_without_waiting(hooks, db):
    async with receiving() as first, receiving() as second:
        await hooks.endpoint(first)
        await hooks.endpoint(second)
        tell(db, 2)
        await hooks.plan(4)
        now, until_ = hooks.clock.now(), hooks.clock.now() + timedelta(minutes=1)
        async with hooks.store.transaction() as a:
            taken_a = await a.claim_webhook_deliveries(1, 5, "a", now, until_)

            async def claim_b():
                async with hooks.store.transaction() as b:
                    return await b.claim_webhook_deliveries(10, 5, "b", now, until_)

            b_claim = asyncio.ensure_future(claim_b())
            async with await psycopg.AsyncConnection.connect(
                hooks.database_url, autocommit=True
            ) as watcher:
                while not b_claim.done():
                    assert await lock_waiters(watcher) == 0, "a claim waited on another's rows"
                    await asyncio.sleep(0.01)  # real: the claim runs in PostgreSQL
            taken_b = b_claim.result()
    keys = {(d.endpoint_id, d.event_id) for d in taken_a}
    assert len(taken_a) == 1
    assert len(taken_b) == 3
    assert keys.isdisjoint({(d.endpoint_id, d.event_id) for d in taken_b})


async def test_a_sender_whose_lease_ran_out_does_not_undo_the_next_ones_answer(hooks, db):
    async with receiving() as receiver:
        await hooks.endpoint(receiver)
        tell(db)
        await hooks.plan(1)
    now = hooks.clock.now()
    lease = timedelta(minutes=1)
    async with hooks.store.transaction() as tx:
        [slow] = await tx.claim_webhook_deliveries(1, 1, "slow", now, now + lease)
    later = now + lease
    async with hooks.store.transaction() as tx:  # the lease ran out: another sender takes it
        [taken] = await tx.claim_webhook_deliveries(1, 1, "next", later, later + lease)
    async with hooks.store.transaction() as tx:  # the slow one's 500 comes back late
        held = await tx.finish_webhook_attempt(
            slow,
            "slow",
            later,
            http_status=500,
            error="HTTP 500",
            delivered=False,
            next_attempt_at=later + timedelta(seconds=5),
        )
        assert not held
    async with hooks.store.transaction() as tx:
        assert await tx.finish_webhook_attempt(
            taken,
            "next",
            later,
            http_status=204,
            error="",
            delivered=True,
            next_attempt_at=None,
        )
    [(delivered,)] = db.execute(
        "select delivered_at is not null from webhook_deliveries"
    ).fetchall()
    assert delivered
    assert [a[1] for a in attempts(db, str(slow.event_id))] == [500, 204]


async def test_two_replicas_claiming_at_once_keep_an_endpoint_to_its_share(hooks, db):
    async with receiving() as receiver:
        await hooks.endpoint(receiver)
        tell(db, 4)
        await hooks.plan(4)
    now, lease_end = hooks.clock.now(), hooks.clock.now() + timedelta(minutes=1)
    async with hooks.store.transaction() as a:  # one replica's claim, not yet committed
        assert len(await a.claim_webhook_deliveries(10, 2, "a", now, lease_end)) == 2
        async with hooks.store.transaction() as b:  # sees none of a's leases yet
            assert await b.claim_webhook_deliveries(10, 2, "b", now, lease_end) == []
    async with hooks.store.transaction() as b:  # and once a's are seen, no room either
        assert await b.claim_webhook_deliveries(10, 2, "b", now, lease_end) == []
