"""Who may call: bearer tokens (AUTH_TOKENS) and TLS / mTLS (TLS_CERT_FILE, TLS_KEY_FILE,
TLS_CLIENT_CA_FILE), for the servers and for the Uploader's own client to the Allocator.

Health checking and reflection stay open, so probes and grpcurl's `list` work without a token.
Tokens are compared in constant time, and only a caller's name ever reaches a log.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from queuelabs.status import rich_status

log = logging.getLogger(__name__)


class BadTokens(ValueError):
    """AUTH_TOKENS is malformed; the message names the entry, never a token."""


OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# The authenticated caller of the RPC being served, for logs.
caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="-")


@dataclass
class CallRecord:
    """What the layers of one call learn about it, for its access line (queuelabs/access.py):
    who called, and the reason of a refusal."""

    caller: str = "-"
    reason: str = ""


# The record of the call being served, set by the outermost interceptor; None outside a call.
current_call: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "current_call", default=None
)


def note_reason(reason: str) -> None:
    """Records why the call being served is refused, for its access line."""
    record = current_call.get()
    if record is not None:
        record.reason = reason


@dataclass(frozen=True)
class Security:
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False)  # name -> token
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None  # set: clients must present a certificate it signed
    ca_file: Path | None = None  # what a client trusts for the servers' certificates
    client_token: str | None = field(default=None, repr=False)  # sent by the Uploader's client

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def key_and_cert(self) -> tuple[bytes, bytes]:
        if self.cert_file is None or self.key_file is None:
            raise ValueError("TLS needs both TLS_CERT_FILE and TLS_KEY_FILE")
        return self.key_file.read_bytes(), self.cert_file.read_bytes()


def parse_tokens(value: str, variable: str = "AUTH_TOKENS") -> dict[str, str]:
    """`name:token,name:token` into {name: token}; the message never shows a token."""
    tokens: dict[str, str] = {}
    for i, entry in enumerate(e.strip() for e in value.split(",") if e.strip()):
        name, sep, token = entry.partition(":")
        if not sep or not name.strip() or not token.strip():
            raise BadTokens(f"{variable}: entry {i + 1} is not name:token")
        if name.strip() in tokens:
            raise BadTokens(f"{variable}: the name {name.strip()!r} appears twice")
        tokens[name.strip()] = token.strip()
    return tokens


def add_port(server: grpc.aio.Server, listen: str, security: Security) -> int:
    """Listens on `listen`, with TLS (and mTLS) when configured; returns the bound port."""
    if not security.tls:
        return server.add_insecure_port(listen)
    client_ca = security.client_ca_file.read_bytes() if security.client_ca_file else None
    credentials = grpc.ssl_server_credentials(
        [security.key_and_cert()],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )
    return server.add_secure_port(listen, credentials)


def client_channel(address: str, security: Security) -> grpc.aio.Channel:
    """A channel to one of our servers, with the same TLS settings and our bearer token."""
    if not security.tls:
        return grpc.aio.insecure_channel(address)
    key, cert = security.key_and_cert()
    trusted = security.ca_file or security.client_ca_file
    credentials = grpc.ssl_channel_credentials(
        root_certificates=trusted.read_bytes() if trusted else None,
        private_key=key,
        certificate_chain=cert,
    )
    return grpc.aio.secure_channel(address, credentials)


def call_metadata(security: Security) -> tuple[tuple[str, str], ...]:
    if security.client_token is None:
        return ()
    return (("authorization", f"Bearer {security.client_token}"),)


class BearerAuth(grpc.aio.ServerInterceptor):
    """Refuses every RPC but health and reflection without a known bearer token."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]

    def identify(self, authorization: str) -> str | None:
        """The caller's name for an `authorization` header, or None. Constant time per token."""
        scheme, _, presented = authorization.partition(" ")
        candidate = presented.strip().encode()
        found = None
        for name, token in self._tokens:  # no early exit: every token is compared
            if hmac.compare_digest(candidate, token) and scheme.lower() == "bearer":
                found = name
        return found

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = dict(details.invocation_metadata or ())
        name = self.identify(str(metadata.get("authorization", "")))
        if handler.unary_stream is not None:  # WatchEvents
            return grpc.unary_stream_rpc_method_handler(
                _stream_as_caller(name, handler.unary_stream) if name else _refuse_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if name is None:
            return grpc.unary_unary_rpc_method_handler(
                _refuse,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            _as_caller(name, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def _refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
    message = "missing or unknown bearer token (send authorization: Bearer <token>)"
    code = grpc.StatusCode.UNAUTHENTICATED
    note_reason("UNAUTHENTICATED")
    await context.abort(code, message, rich_status(code, message, "UNAUTHENTICATED"))


def _as_caller(
    name: str, behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def serve(request: Any, context: grpc.aio.ServicerContext) -> Any:
        record = current_call.get()
        if record is not None:
            record.caller = name
        token = caller.set(name)
        try:
            return await behaviour(request, context)
        finally:
            caller.reset(token)

    return serve


async def _refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    await _refuse(request, context)
    yield  # unreachable (_refuse aborts); makes this a stream's handler


def _stream_as_caller(
    name: str, behaviour: Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]
) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    async def serve(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        record = current_call.get()
        if record is not None:
            record.caller = name
        token = caller.set(name)
        try:
            async for response in behaviour(request, context):
                yield response
        finally:
            caller.reset(token)

    return serve


def interceptors(security: Security, service: str) -> list[grpc.aio.ServerInterceptor]:
    if security.tokens:
        log.info(
            "%s: bearer tokens required (callers: %s)", service, ", ".join(sorted(security.tokens))
        )
        return [BearerAuth(security.tokens)]
    log.warning(
        "%s: AUTH_TOKENS is not set: every RPC is OPEN to anyone who can reach this port. "
        "Set AUTH_TOKENS=name:token,... outside a laptop.",
        service,
    )
    return []
