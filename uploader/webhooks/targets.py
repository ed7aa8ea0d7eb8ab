"""Where a webhook may be sent: an http(s) URL whose host resolves to public addresses only.
A loopback, private, link-local, unspecified, multicast or otherwise non-public address is
refused (the Uploader must not be a way into its own network) unless private targets are
allowed (WEBHOOKS_ALLOW_PRIVATE=true: the dev stack and the tests). Checked when an endpoint is
created and again before each delivery, as a name may resolve elsewhere later."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL = 2000


class BadTarget(ValueError):
    """The URL may not receive webhooks; the message says why (it never holds a secret)."""


def refused_address(address: str) -> str | None:
    """Why a resolved address may not receive webhooks, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone names no address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind, found in (
        # The narrower kinds first: is_private covers loopback and link-local too.
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if found:
            return f"{ip} is a {kind} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; BadTarget for anything else."""
    if len(url) > MAX_URL:
        raise BadTarget(f"is {len(url)} characters long; at most {MAX_URL}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadTarget("is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise BadTarget("must be an http:// or https:// URL")
    if not parts.hostname:
        raise BadTarget("has no host")
    if parts.username is not None or parts.password is not None:
        # It would be stored and shown in full; a receiver checks the signature instead.
        raise BadTarget("must not carry credentials (user:password@)")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_target(url: str, allow_private: bool) -> None:
    """BadTarget when `url` may not receive webhooks: not http(s), not resolvable, or (unless
    `allow_private`) resolving to an address that is not public."""
    host, port = split_url(url)
    if allow_private:
        return
    try:
        # The event loop resolves in a thread: a slow resolver holds no other work up.
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise BadTarget(f"its host {host!r} does not resolve") from None
    for *_, sockaddr in found:
        why = refused_address(str(sockaddr[0]))
        if why is not None:
            raise BadTarget(
                f"its host {host!r} resolves to {why}; "
                "only public addresses receive webhooks unless WEBHOOKS_ALLOW_PRIVATE=true"
            )
