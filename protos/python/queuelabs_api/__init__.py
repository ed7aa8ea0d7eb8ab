"""The client settings the QueueLabs services recommend: a gRPC service config that retries what
is safe to retry (UNAVAILABLE: not reached, or the database away; ABORTED: a concurrent change,
nothing written) with exponential backoff, and gives every call a 10 s deadline unless the
caller sets its own. Every RPC may be retried: AssignNext, BatchAssign and the rest are
idempotent by their ids.

    channel = grpc.insecure_channel(address, options=channel_options())
    channel = grpc.aio.secure_channel(address, credentials, options=channel_options())
"""

from __future__ import annotations

import json

__all__ = ["SERVICE_CONFIG", "channel_options"]

SERVICE_CONFIG: dict[str, object] = {
    "methodConfig": [
        {
            "name": [
                {"service": "queuelabs.allocator.v1.Allocator"},
                {"service": "queuelabs.uploader.v1.Uploader"},
            ],
            "timeout": "10s",
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE", "ABORTED"],
            },
        }
    ]
}


def channel_options() -> list[tuple[str, str | int]]:
    """Options for grpc.*_channel that apply SERVICE_CONFIG."""
    return [
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ("grpc.enable_retries", 1),
    ]
