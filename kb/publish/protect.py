"""The request wrapper of the web instance (an ASGI middleware the aiwatch_protect plugin installs):
protective headers on every response, links from the configured base URL rather than the Host
header, no absolute file paths in any body, a cap on response bytes and on a request's time, and
arbitrary SQL routed to its own pool with one running query per client."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import ipaddress
import json
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kb.publish.limits import MB, POOL, ClientGate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ENV = "KB_SERVE_OPTIONS"  # how `kb serve` hands its options to the plugins (never served, unlike metadata)
RESPONSE_LIMIT = 32 * MB
# Inline scripts of Datasette's own templates that stay inline (the others are overridden in
# datasette/templates to load files from /static/): table.html's facet switch.
INLINE_SCRIPTS = ("DATASETTE_ALLOW_FACET = true;", "DATASETTE_ALLOW_FACET = false;")
# The instance is read-only: the one write it accepts is one-click unsubscribe (kb.publish.unsubscribe).
POST_PATHS = ("/-/unsubscribe",)
READ_METHODS = ("GET", "HEAD")
TEXT_TYPES = (b"text/", b"application/json", b"application/atom+xml", b"image/svg+xml")


@dataclass
class ServeOptions:
    """What `kb serve` tells the plugins: the public base URL (links, feed ids, unsubscribe URLs),
    public mode, whether arbitrary SQL is allowed, where the subscribers live, and the bounds."""

    base_url: str = "http://127.0.0.1:8001"
    public: bool = False
    allow_sql: bool = True
    private_db: str | None = None
    sql_threads: int = 1
    request_time_limit_s: float = 20.0
    response_limit: int = RESPONSE_LIMIT

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, env: MutableMapping[str, str] | None = None) -> ServeOptions:
        raw = (os.environ if env is None else env).get(ENV)
        return cls(**json.loads(raw)) if raw else cls()


def script_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' " + " ".join(script_hash(s) for s in INLINE_SCRIPTS),
    # Datasette's templates colour headings with style attributes; no inline <style> elements.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def is_arbitrary_sql(scope: Scope) -> bool:
    """A request that runs SQL the client wrote: ``?sql=`` on a database, or ``_where`` on a table."""
    query = scope.get("query_string", b"").decode("latin-1")
    names = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
    return "sql" in names or "_where" in names


def client_address(scope: Scope) -> str:
    """The client's address; behind a reverse proxy on this machine (a loopback peer), the last
    X-Forwarded-For entry, which the proxy sets (see docs/web.md)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[-1].strip() or peer
    return str(peer)


def path_prefixes(db_path: str | Path | None) -> list[bytes]:
    """Absolute paths that must not appear in a response: the database's folder, the checkout or
    installed package, the Python installation, the home folder. Longest first."""
    here = Path(__file__).resolve()
    candidates = {str(here.parents[2]), sys.prefix, sys.base_prefix, str(Path.home())}
    if db_path:
        candidates.add(str(Path(db_path).resolve().parent))
        candidates.add(str(Path(db_path).absolute().parent))
    keep = [p for p in candidates if p and p.count("/") >= 2]  # never "/" or "/tmp" alone
    return sorted((p.encode() + b"/" for p in keep), key=len, reverse=True)


def scrub(body: bytes, prefixes: list[bytes]) -> bytes:
    for prefix in prefixes:
        if prefix in body:
            body = body.replace(prefix, b"")
    return body


def error_body(status: int, message: str, json_wanted: bool) -> tuple[bytes, bytes]:
    if json_wanted:
        return json.dumps({"ok": False, "error": message, "status": status}).encode(), b"application/json"
    page = f"<!DOCTYPE html><title>Error {status}</title><h1>Error {status}</h1><p>{html.escape(message)}</p>"
    return page.encode(), b"text/html; charset=utf-8"


class Protect:
    """The ASGI middleware (see the module's docstring)."""

    def __init__(self, app: App, options: ServeOptions, *, db_path: str | None = None) -> None:
        self.app, self.options = app, options
        base = urlsplit(options.base_url)
        self.scheme, self.host = base.scheme, base.netloc.encode()
        self.prefixes = path_prefixes(db_path)
        self.gate = ClientGate(per_client=1, total=16)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Links are built from the configured base URL, never from what the client sent.
        scope = dict(scope, scheme=self.scheme, headers=[
            (k, self.host if k == b"host" else v) for k, v in scope.get("headers", [])])
        json_wanted = scope.get("path", "").endswith(".json")
        if scope.get("method") not in READ_METHODS and scope.get("path") not in POST_PATHS:
            await self._error(send, 405, "this instance is read-only", json_wanted,
                              [(b"allow", b"GET, HEAD")])
            return
        if not is_arbitrary_sql(scope):
            await self._run(scope, receive, send, json_wanted)
            return
        client = client_address(scope)
        if not self.gate.enter(client):
            await self._error(send, 429, "one query at a time per client (16 in all): wait for the "
                              "last one", json_wanted, [(b"retry-after", b"2")])
            return
        token = POOL.set("sql")
        try:
            await self._run(scope, receive, send, json_wanted)
        finally:
            POOL.reset(token)
            self.gate.leave(client)

    async def _run(self, scope: Scope, receive: Receive, send: Send, json_wanted: bool) -> None:
        state: dict[str, Any] = {"start": None, "body": bytearray(), "sent": False}

        async def capped_send(message: Message) -> None:
            if state["sent"]:
                return
            if message["type"] == "http.response.start":
                state["start"] = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            state["body"] += message.get("body", b"")
            if len(state["body"]) > self.options.response_limit:
                state["sent"] = True
                await self._error(send, 400, f"the response is larger than "
                                  f"{self.options.response_limit // MB} MB: ask for less", json_wanted)
                raise ResponseTooLarge
            if not message.get("more_body"):
                state["sent"] = True
                await self._finish(send, state["start"], bytes(state["body"]))

        try:
            await asyncio.wait_for(self.app(scope, receive, capped_send),
                                   self.options.request_time_limit_s)
        except ResponseTooLarge:
            pass
        except TimeoutError:
            if not state["sent"]:
                state["sent"] = True
                await self._error(send, 503, f"the request took longer than "
                                  f"{self.options.request_time_limit_s:.0f} s", json_wanted)

    async def _finish(self, send: Send, start: Message, body: bytes) -> None:
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        if content_type.startswith(TEXT_TYPES):
            body = scrub(body, self.prefixes)
        present = {k.lower() for k, _ in headers}  # Datasette's own no-referrer, say, is stricter
        headers += [h for h in HEADERS if h[0] not in present]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _error(self, send: Send, status: int, message: str, json_wanted: bool,
                     extra: list[tuple[bytes, bytes]] | None = None) -> None:
        body, content_type = error_body(status, message, json_wanted)
        await self._finish(send, {"status": status, "headers": [
            (b"content-type", content_type), *(extra or [])]}, body)


class ResponseTooLarge(Exception):
    """Raised into the app to stop it producing a response past the cap."""
