"""The private-network guard: a hostile feed must not make the crawler fetch internal services."""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")


def is_private_address(address: str) -> bool:
    """True for anything but a public unicast address: loopback, private (10/8, 172.16/12,
    192.168/16, fc00::/7), link-local and cloud metadata (169.254/16), shared, reserved, multicast."""
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return not ip.is_global or ip.is_multicast


def addresses_refusal(host: str, addresses: list[str]) -> str | None:
    """Why ``host`` must not be fetched given the addresses it resolved to, or None: any private
    one refuses it, and so does none at all (a failed lookup is a refusal, never a pass)."""
    if not addresses:
        return f"{host or '(no host)'} could not be resolved"
    if any(is_private_address(a) for a in addresses):
        return f"{host} is a private or local address"
    return None


@lru_cache(maxsize=4096)
def host_refusal(host: str) -> str | None:
    """Why ``host`` must not be fetched, from the system resolver's answer (any of its addresses)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP) if host else []
    except (socket.gaierror, UnicodeError, OSError):
        infos = []
    return addresses_refusal(host, [str(info[4][0]) for info in infos])


def scheme_refusal(url: str) -> str | None:
    """Why ``url``'s scheme is never fetched (file:, ftp:, data:, javascript:...), or None."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"scheme {scheme or '(none)'!r} is not fetched"
    return None


def refusal_reason(url: str, trusted_url: str | None) -> str | None:
    """Why ``url`` must not be fetched, or None. ``trusted_url``'s host (the feed) is trusted."""
    reason = scheme_refusal(url)
    if reason:
        return reason
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return "malformed URL"
    if trusted_url and host == (urlsplit(trusted_url).hostname or "").lower():
        return None
    return host_refusal(host)
