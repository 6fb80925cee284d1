"""The instance's protections (kb.publish.protect and kb.publish.limits do the work): bounded SQL on
every connection, arbitrary SQL on a pool of its own, headers, cheap errors, one-click unsubscribe."""

from __future__ import annotations

import asyncio
import logging
import sys
import warnings
from types import SimpleNamespace
from typing import Any

from datasette.utils.asgi import Base400
from datasette.views.base import DatasetteError
from markupsafe import Markup, escape

from datasette import Response, hookimpl
from datasette import database as datasette_database
from datasette.plugins import pm
from kb.publish.limits import RateLimiter, RoutingExecutor, bound_connection
from kb.publish.protect import Protect, ServeOptions, client_address
from kb.publish.unsubscribe import PATH, BadToken, check, unsubscribe

log = logging.getLogger("aiwatch")
OPTIONS = ServeOptions.from_env()
UNSUBSCRIBES = RateLimiter(per_minute=10, burst=5)

# Datasette's own handler prints every error with `rich` (locals included: 0.4 s of CPU and tens of
# KiB of log per error, and a crash, hence a 500, on some 404s). Ours below replaces it.
if pm.get_plugin("datasette.handle_exception") is not None:
    pm.unregister(name="datasette.handle_exception")


class OneLineStderr:
    """Datasette's log of a failed query (the whole SQL, over many lines) as one short line."""

    def write(self, text: str) -> None:
        if text.strip():
            sys.stderr.write(" ".join(text.split())[:300] + "\n")

    def flush(self) -> None:
        sys.stderr.flush()


datasette_database.sys = SimpleNamespace(stderr=OneLineStderr())  # it uses sys for stderr only
# Datasette 0.65 leaves facet coroutines unawaited when a table request fails: a five-line warning each.
warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)


@hookimpl
def prepare_connection(conn: Any) -> None:
    bound_connection(conn)


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    if datasette.executor is not None and not isinstance(datasette.executor, RoutingExecutor):
        datasette.executor = RoutingExecutor(datasette.executor, sql_threads=OPTIONS.sql_threads)
    db = datasette.get_database()
    return lambda app: Protect(app, OPTIONS, db_path=db.path)


@hookimpl
def permission_allowed(action: str) -> bool | None:
    return False if action == "execute-sql" and not OPTIONS.allow_sql else None


@hookimpl
def skip_csrf(scope: Any) -> bool:
    return bool(scope.get("path") == PATH)  # the signed token is the authority (RFC 8058 one-click)


def classify(exception: Exception) -> tuple[int, str, str | None, bool]:
    """Status, message, title and whether the message is HTML. Datasette raises DatasetteError for
    requests it cannot answer as asked (an unknown sort column, say): a 400, not a 500."""
    if isinstance(exception, Base400):
        return exception.status, str(exception.args[0] if exception.args else ""), None, False
    if isinstance(exception, DatasetteError):
        status = 400 if exception.status == 500 else exception.status
        return status, exception.message, exception.title, exception.message_is_html
    return 500, "Internal server error", None, False


@hookimpl(tryfirst=True)
def handle_exception(datasette: Any, request: Any, exception: Exception) -> Any:
    async def inner() -> Response:
        status, message, title, is_html = classify(exception)
        detail = " ".join(str(exception).split())[:200]
        log.warning("%s %s: %d %s: %s", request.method, request.path[:200], status,
                    type(exception).__name__, detail)
        info = {"ok": False, "error": message, "status": status, "title": title}
        if request.path.endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
        html = await template.render_async({
            **info, "error": Markup(message) if is_html else message, "urls": datasette.urls,
            "app_css_hash": datasette.app_css_hash(), "menu_links": lambda: []})
        return Response.html(html, status=status)
    return inner


def _page(title: str, body: str, status: int = 200) -> Response:
    return Response.html(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
                         '</title><link rel="stylesheet" href="/static/aiwatch.css"></head><body class='
                         f'"aiwatch-unsubscribe"><main><h1>{escape(title)}</h1>{body}</main></body></html>',
                         status=status)


async def unsubscribe_view(request: Any, datasette: Any) -> Response:
    """GET shows a confirmation button (mail scanners follow links); POST, from that button or a mail
    client's one-click (RFC 8058), removes the subscriber."""
    if not UNSUBSCRIBES.allow(client_address(request.scope)):
        return _page("Too many requests", "<p>Please try again in a minute.</p>", status=429)
    token = request.args.get("t") or ""
    if not OPTIONS.private_db:
        return _page("Not available", "<p>This instance sends no digest.</p>", status=404)
    loop = asyncio.get_running_loop()
    try:
        if request.method == "POST":
            removed = await loop.run_in_executor(None, unsubscribe, OPTIONS.private_db, token)
            return _page("Unsubscribed", "<p>You will get no more digests.</p>" if removed else
                         "<p>This address was already unsubscribed.</p>")
        await loop.run_in_executor(None, check, OPTIONS.private_db, token)
    except BadToken as exc:
        return _page("Link not valid", f"<p>{escape(str(exc).capitalize())}. Reply to the digest "
                     "to unsubscribe.</p>", status=400)
    return _page("Unsubscribe from the aiwatch digest", f'<form method="post" action="{PATH}?t='
                 f'{escape(token)}"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
                 '<button type="submit">Unsubscribe</button></form>')


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(rf"^{PATH}$", unsubscribe_view)]

