"""The private-network guard's resolver: every host name the crawler connects to is looked up once,
checked, and pinned, so the address that was checked is the address connected to.

Scrapy installs :class:`GuardedResolver` on the reactor (the ``DNS_RESOLVER`` setting), so Twisted's
HTTP client gets its addresses from here; the PrivateNetworkGuard middleware asks the same
:data:`GUARD` first, to refuse and log before any connection. A name that answers a public address
and then a private one (DNS rebinding) keeps its first, checked answer; a lookup that fails is a
refusal. ``KB_DNS_SERVERS`` (``host:port,...``) sends the lookups to given DNS servers through
Twisted's own resolver instead of the system's.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from scrapy.settings import BaseSettings
from twisted.internet import defer, threads
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from zope.interface import implementer  # type: ignore[import-untyped]

from kb.crawl.netguard import addresses_refusal


class Refused(DNSLookupError):
    """The guard will not connect to this host (private address, or the lookup failed)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "refused"


class AddressGuard:
    """Lookups, checked and pinned for the life of the crawl (one per process)."""

    def __init__(self) -> None:
        self.allow_private = False
        self.servers: list[tuple[str, int]] = []
        self.timeout = 10.0
        self.trusted: set[str] = set()  # the configured feeds' hosts, which may be private
        self.pinned: dict[str, str] = {}
        self._twisted_resolver: Any = None

    def configure(self, settings: BaseSettings) -> None:
        self.allow_private = settings.getbool("KB_ALLOW_PRIVATE")
        self.timeout = settings.getfloat("DNS_TIMEOUT", 10.0)
        specs = [s.strip() for s in str(settings.get("KB_DNS_SERVERS") or "").split(",") if s.strip()]
        self.servers = [_server(spec) for spec in specs]
        self._twisted_resolver = None

    def trust(self, host: str | None) -> None:
        if host:
            self.trusted.add(host.lower())

    def lookup(self, name: str) -> defer.Deferred[str]:
        """The address to connect to for ``name``: pinned, or looked up, checked and pinned.
        Fails with Refused when the guard will not connect there."""
        host = name.lower()
        if host in self.pinned:
            return defer.succeed(self.pinned[host])
        if _is_ip(host):
            return self._checked(host, [host])
        d: Any = self._resolve(host)
        d.addCallbacks(lambda addresses: self._checked(host, addresses), lambda failure: self._failed(host))
        return d

    def _failed(self, host: str) -> Any:
        """A failed lookup: an ordinary DNS failure for a configured feed's host, else a refusal."""
        if self.allow_private or host in self.trusted:
            return defer.fail(DNSLookupError(host))
        return defer.fail(Refused(f"{host} could not be resolved"))

    def _checked(self, host: str, addresses: list[str]) -> Any:
        if not addresses:
            return defer.fail(Refused(f"{host} could not be resolved"))
        if not (self.allow_private or host in self.trusted):
            reason = addresses_refusal(host, addresses)
            if reason:
                return defer.fail(Refused(reason))
        return defer.succeed(self.pinned.setdefault(host, addresses[0]))  # the first answer wins

    def _resolve(self, host: str) -> defer.Deferred[list[str]]:
        if not self.servers:
            return threads.deferToThread(_system_lookup, host)
        if self._twisted_resolver is None:
            from twisted.names import client

            self._twisted_resolver = client.Resolver(servers=self.servers, timeout=(self.timeout,))
        d = self._twisted_resolver.lookupAddress(host, timeout=(self.timeout,))
        d.addCallback(lambda result: [r.payload.dottedQuad() for r in result[0] if r.type == 1])
        return d


def _server(spec: str) -> tuple[str, int]:
    """``host`` or ``host:port`` (IPv4 or a name) of a DNS server."""
    host, sep, port = spec.rpartition(":")
    return (host, int(port)) if sep else (spec, 53)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _system_lookup(host: str) -> list[str]:
    """IPv4 addresses of ``host`` from the system resolver (Twisted's HTTP client connects over
    IPv4 through this resolver, as Scrapy's default one does)."""
    infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


GUARD = AddressGuard()


@implementer(IResolverSimple)
class GuardedResolver:
    """The reactor's resolver during a crawl (``DNS_RESOLVER``): addresses come from :data:`GUARD`."""

    def __init__(self, reactor: Any, settings: BaseSettings) -> None:
        self.reactor = reactor
        GUARD.configure(settings)

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        return cls(reactor, crawler.settings)

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)

    def getHostByName(self, name: str, timeout: Any = ()) -> defer.Deferred[str]:  # noqa: N802
        return GUARD.lookup(name)
