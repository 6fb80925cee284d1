"""The private-network guard: a hostile feed must not make the crawler fetch internal services."""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")


@lru_cache(maxsize=4096)
def resolves_to_private(host: str) -> bool:
    """True if ``host`` is, or resolves to, a loopback, private, link-local or reserved address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return False  # unresolvable: the download itself will fail and be reported
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if (address.is_private or address.is_loopback or address.is_link_local
                or address.is_reserved or address.is_multicast or address.is_unspecified):
            return True
    return False


def refusal_reason(url: str, trusted_url: str | None) -> str | None:
    """Why ``url`` must not be fetched, or None. ``trusted_url``'s host (the feed) is trusted."""
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme or '(none)'!r} is not fetched"
    host = (parts.hostname or "").lower()
    if trusted_url and host == (urlsplit(trusted_url).hostname or "").lower():
        return None
    if resolves_to_private(host):
        return f"{host} is a private or local address"
    return None
