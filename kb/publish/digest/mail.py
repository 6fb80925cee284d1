"""The weekly digest, send step: SMTP settings, one connection for all messages, per-send records.

The only module that talks SMTP. Each send is recorded per subscriber and ISO week in the private
database: a delivered digest is never sent again, a refused one is retried by the next run, and
one bad address never stops the others.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Protocol

from sqlite_utils.db import Database

from kb.core.config import Smtp
from kb.core.errors import KbError
from kb.publish.digest.subscribers import EMAIL, Subscriber, save_send, sent_ids

SECURITY = ("none", "starttls", "ssl")
ENV = {"host": "KB_SMTP_HOST", "port": "KB_SMTP_PORT", "user": "KB_SMTP_USER",
       "password": "KB_SMTP_PASSWORD", "security": "KB_SMTP_SECURITY", "mail_from": "KB_MAIL_FROM"}


class MailError(KbError):
    """Mail cannot be sent at all: no server configured, or the server cannot be reached."""


class SendError(Exception):
    """One message was refused (bad address, rejected content); the others can still go."""


def check_sender(value: str) -> str:
    """A sender address, ``name@example.org`` or ``Name <name@example.org>``; else MailError."""
    if any(c in value for c in "\r\n\x00"):
        raise MailError("the sender address must be a single line")
    if not EMAIL.fullmatch(parseaddr(value)[1]):
        raise MailError(f"the sender address {value!r} is not an email address "
                        "(expected name@example.org or 'Name <name@example.org>')")
    return value


def require_sendable(settings: Smtp) -> Smtp:
    """Raise MailError unless these settings are enough to send mail."""
    if not settings.host:
        raise MailError("no SMTP server configured: set smtp.host in the configuration, "
                        "KB_SMTP_HOST, or pass --smtp-host")
    if not settings.mail_from:
        raise MailError("no sender address: set smtp.mail_from in the configuration, "
                        "KB_MAIL_FROM, or pass --mail-from")
    if settings.user and not settings.password:
        raise MailError(f"SMTP user {settings.user!r} is set but KB_SMTP_PASSWORD is not "
                        "(the password is only read from the environment)")
    return settings


def smtp_settings(config: Smtp, *, env: Mapping[str, str],
                  overrides: Mapping[str, Any] | None = None) -> Smtp:
    """The configuration, overridden by the environment, overridden by flags (``None`` = not given).

    The password comes from the environment only, never from a file or a flag.
    """
    values: dict[str, Any] = {"host": config.host, "port": config.port, "security": config.security,
                              "user": config.user, "mail_from": config.mail_from}
    for key, name in ENV.items():
        if env.get(name):
            values[key] = env[name]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    try:
        values["port"] = int(values["port"])
    except (TypeError, ValueError):
        raise MailError(f"SMTP port must be a number, got {values['port']!r}") from None
    if values["mail_from"]:
        check_sender(values["mail_from"])
    if values["security"] not in SECURITY:
        raise MailError(f"SMTP security must be none, starttls or ssl, got {values['security']!r}")
    return replace(config, **values)


class Sender(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpSender:
    """One SMTP connection, opened on the first message and reused (reconnecting once if dropped)."""

    def __init__(self, settings: Smtp) -> None:
        self.settings = require_sendable(settings)
        self.conn: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            if s.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host or "", s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.host or "", s.port, timeout=s.timeout)
                if s.security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            if s.user:
                conn.login(s.user, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"SMTP server {where} refused the login for {s.user!r}: "
                            f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise MailError(f"cannot reach SMTP server {where} ({s.security}): {reason}") from None
        return conn

    def send(self, message: EmailMessage) -> None:
        """Send one message; SendError if the server refused it, MailError if it cannot be reached."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.send_message(message)
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise SendError(f"{code} {_text(text)}") from None
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == 421:  # the server is closing the connection: stop here
                    self.close()
                    raise MailError(f"SMTP server {self.settings.host} closed the connection: "
                                    f"{_text(exc.smtp_error)}") from None
                raise SendError(f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self.conn = None
                if attempt == 2:
                    raise MailError(f"lost the connection to {self.settings.host}: {exc}") from None


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass
class SendReport:
    sent: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    aborted: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and self.aborted is None


def send_digests(private_db: Database, subscribers: Iterable[Subscriber],
                 compose: Callable[[Subscriber], EmailMessage], *, week: str,
                 sender: Sender) -> SendReport:
    """Send ``week``'s digest to every subscriber who has not had it, recording each attempt.

    A refused message is recorded as failed (and retried next run) and the loop goes on; a server
    that cannot be reached stops the loop, with the rest left for the next run.
    """
    report = SendReport()
    done = sent_ids(private_db, week)
    for subscriber in subscribers:
        if subscriber.id in done:
            report.already.append(subscriber.email)
            continue
        message = compose(subscriber)
        msgid = message["Message-ID"]
        try:
            sender.send(message)
        except SendError as exc:
            save_send(private_db, subscriber, week, ok=False, message_id=msgid, error=str(exc))
            report.failed.append((subscriber.email, str(exc)))
            continue
        except MailError as exc:
            save_send(private_db, subscriber, week, ok=False, message_id=msgid, error=str(exc))
            report.failed.append((subscriber.email, str(exc)))
            report.aborted = str(exc)
            break
        save_send(private_db, subscriber, week, ok=True, message_id=msgid)
        report.sent.append(subscriber.email)
    return report
