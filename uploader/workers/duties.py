"""The Uploader's background duties in one list: what each replica runs, at which interval, in
batches of how many rows. uploader/server.py starts exactly these, and tests/test_duties.py
holds every worker module to being in it (a duty nobody starts is a duty that does not run)."""

from __future__ import annotations

from queuelabs.clock import Clock
from uploader.settings import UploaderSettings
from uploader.storage import UploaderStore
from uploader.workers import (
    backlog,
    event_pruner,
    pruner,
    rescuer,
    webhook_planner,
    webhook_pruner,
)
from uploader.workers.backlog import BacklogGauge
from uploader.workers.claimer import Claimer
from uploader.workers.event_pruner import EventPruner
from uploader.workers.periodic import Duty
from uploader.workers.pruner import RequestLogPruner
from uploader.workers.rescuer import Rescuer
from uploader.workers.webhook_planner import WebhookPlanner
from uploader.workers.webhook_pruner import WebhookPruner
from uploader.workers.webhook_sender import WebhookSender


def uploader_duties(
    store: UploaderStore, clock: Clock, claimer: Claimer, settings: UploaderSettings
) -> list[Duty]:
    """Every duty of one replica. Rescuer and pruners run on every replica: their batches take
    rows FOR UPDATE SKIP LOCKED, so replicas share the work and none waits on another (and a
    replica's death is caught by any other). The backlog gauge runs on one replica at a time."""
    rescuing = Rescuer(store, clock)
    pruning = RequestLogPruner(store, clock)
    pruning_events = EventPruner(store, clock, settings.events_retention)
    gauge = BacklogGauge(store, clock)
    sender = WebhookSender(store, clock, claimer.worker, settings.webhooks)
    planner = WebhookPlanner(store, clock, wake_sender=sender.wake)
    pruning_webhooks = WebhookPruner(store, clock, settings.events_retention)
    return [
        # Claims due contents; at most max_in_flight per turn (its room), woken on demand.
        Duty("claimer", claimer.turn, settings.idle, settings.max_in_flight, claimer.woken),
        Duty("rescuer", rescuing.turn, rescuer.INTERVAL, rescuing.batch),
        Duty("request-log pruner", pruning.turn, pruner.INTERVAL, pruning.batch),
        # Every replica too (SKIP LOCKED, as `queuelabs prune`): the log past EVENTS_RETENTION.
        Duty("event pruner", pruning_events.turn, event_pruner.INTERVAL, pruning_events.batch),
        # Webhooks: endpoints planned one replica at a time each (row lock, SKIP LOCKED);
        # deliveries claimed SKIP LOCKED, at most max_in_flight per turn (its room).
        Duty("webhook planner", planner.turn, webhook_planner.INTERVAL, planner.batch),
        Duty("webhook sender", sender.turn, settings.idle, sender.batch, sender.woken),
        # Deliveries done with and attempts, kept as long as the log (SKIP LOCKED).
        Duty(
            "webhook pruner",
            pruning_webhooks.turn,
            webhook_pruner.INTERVAL,
            pruning_webhooks.batch,
        ),
        # The whole database's backlog: reported by one replica, not summed over all of them.
        Duty(
            "backlog gauge",
            gauge.turn,
            backlog.INTERVAL,
            None,
            one_runner=True,
            stand_down=gauge.withhold,
        ),
    ]
