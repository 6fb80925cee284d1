"""The scheduler: what is due, missed runs once, no overlap, the foreground loop, cron lines, --once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import LOREM, FixtureServer, article_html, rss2, run_kb
from test_digest import Mailbox, smtp_server

from kb.cli import cli
from kb.cli.scheduling import Outcome, Plan, Scheduler, last_run
from kb.core.config import Schedule
from kb.core.errors import EXIT_LOCKED
from kb.core.runlock import run_lock
from kb.publish.digest.build import IsoWeek
from kb.publish.digest.subscribers import open_private_db

MONDAY_7_PARIS = "0 7 * * mon"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as running:
        yield running


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Counting:
    """A runner that counts its calls and records when each ran."""

    def __init__(self, outcome: str = "ok", seconds: float = 0.0) -> None:
        self.outcome, self.seconds = outcome, seconds
        self.spans: list[tuple[float, float]] = []

    def __call__(self) -> Outcome:
        start = time.monotonic()
        time.sleep(self.seconds)
        self.spans.append((start, time.monotonic()))
        return Outcome(self.outcome, f"{self.outcome} run {len(self.spans)}")

    @property
    def calls(self) -> int:
        return len(self.spans)


def make(tmp_path: Path, clock: Clock, *, update: Counting | None = None, digest: Counting | None = None,
         plan: Plan | None = None) -> Scheduler:
    plan = plan or Plan.from_config(Schedule(crawl_every_minutes=60, jitter_seconds=0,
                                             digest_cron=MONDAY_7_PARIS, timezone="Europe/Paris"))
    return Scheduler(state_path=tmp_path / "kb.private.db", plan=plan,
                     runners={"update": update or Counting(), "digest": digest or Counting()},
                     lock_base=str(tmp_path / "kb.db"), clock=clock)


def test_due_jobs_follow_interval_and_cron(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))  # a Wednesday
    update, digest = Counting(), Counting()
    s = make(tmp_path, clock, update=update, digest=digest)
    assert s.due() == ["update", "digest"], "never run: both due"
    assert {j: o.status for j, o in s.run_due().items()} == {"update": "ok", "digest": "ok"}
    assert (update.calls, digest.calls) == (1, 1)
    clock.advance(minutes=30)
    assert s.run_due() == {} and update.calls == 1
    clock.advance(minutes=31)
    assert list(s.run_due()) == ["update"] and (update.calls, digest.calls) == (2, 1)
    clock.now = datetime(2026, 11, 30, 5, 59, tzinfo=UTC)  # Monday 06:59 in Paris
    assert "digest" not in s.due()
    clock.now = datetime(2026, 11, 30, 6, 0, 30, tzinfo=UTC)  # Monday 07:00:30 in Paris
    assert "digest" in s.due()


def test_missed_runs_run_once_after_downtime(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    update, digest = Counting(), Counting()
    s = make(tmp_path, clock, update=update, digest=digest)
    s.run_due()
    clock.advance(days=15)  # two Monday digests and ~360 hourly crawls missed
    assert sorted(s.run_due()) == ["digest", "update"]
    assert (update.calls, digest.calls) == (2, 2)
    assert s.run_due() == {}


def test_failed_digest_is_retried_after_an_interval(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 23, 6, 30, tzinfo=UTC))
    digest = Counting("failed")
    s = make(tmp_path, clock, digest=digest)
    assert s.run_due()["digest"].status == "failed"
    clock.advance(minutes=10)
    assert "digest" not in s.due()
    digest.outcome = "ok"
    clock.advance(minutes=55)
    assert s.run_due()["digest"].status == "ok"
    clock.advance(minutes=65)
    assert "digest" not in s.due()


def test_an_overlapping_run_is_skipped_and_stays_due(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    update = Counting()
    s = make(tmp_path, clock, update=update)
    with run_lock(tmp_path / "kb.db.update"):  # another process's run of the job
        outcome = s.run("update")
    assert outcome.status == "skipped" and "holds" in outcome.detail and update.calls == 0
    assert s.state().execute("select status from job_runs where job = 'update'").fetchall() == [("skipped",)]
    assert "update" in s.due()
    assert s.run("update").status == "ok" and update.calls == 1


def test_foreground_runs_due_jobs_without_overlap(tmp_path: Path) -> None:
    """Short intervals: a 0.3 s interval and a job that takes 0.5 s never run twice at once."""
    update = Counting(seconds=0.5)
    plan = Plan.from_config(Schedule(crawl_every_minutes=60, jitter_seconds=0,
                                     digest_cron=MONDAY_7_PARIS, timezone="UTC"))
    fast = replace(plan, every=timedelta(seconds=0.3))
    s = make(tmp_path, Clock(datetime.now(UTC)), update=update, plan=fast)
    s.clock = lambda: datetime.now(UTC)
    aps = s.start(blocking=False)
    try:
        time.sleep(2.4)
    finally:
        aps.shutdown(wait=True)
    assert update.calls >= 3
    for (_, end), (start, _) in zip(update.spans, update.spans[1:], strict=False):
        assert start >= end, "two runs of the job overlapped"
    rows = s.state().execute("select status, count(*) from job_runs where job = 'update' "
                        "group by status").fetchall()
    assert dict(rows)["ok"] == update.calls


def test_runs_in_two_threads_never_overlap(tmp_path: Path) -> None:
    """Two schedulers on one database (two `kb schedule` processes, say): the lock lets one run."""
    clock = Clock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    update = Counting(seconds=0.6)
    first, second = make(tmp_path, clock, update=update), make(tmp_path, clock, update=update)
    results: dict[str, Outcome] = {}
    thread = threading.Thread(target=lambda: results.setdefault("first", first.run("update")))
    thread.start()
    time.sleep(0.2)
    results["second"] = second.run("update")
    thread.join()
    assert results["first"].status == "ok" and results["second"].status == "skipped"
    assert update.calls == 1


def test_second_kb_update_says_another_run_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    with run_lock(db):
        result = CliRunner().invoke(cli, ["update", "--db", str(db), "-q"])
    assert result.exit_code == EXIT_LOCKED
    assert "another run (pid" in result.stderr and "try again later" in result.stderr


def write_config(path: Path, *, feed_url: str = "http://127.0.0.1:9/feed.xml", smtp_port: int | None = None,
                 cron: str = MONDAY_7_PARIS, timezone: str = "Europe/Paris") -> Path:
    smtp = (f"smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, mail_from: digest@aiwatch.test}}\n"
            if smtp_port else "")
    path.write_text(
        "crawl: {download_delay: 0, autothrottle: false, obey_robots: false, timeout: 10, retries: 0}\n"
        f"schedule: {{crawl_every_minutes: 30, jitter_seconds: 90, digest_cron: '{cron}', "
        f"timezone: {timezone}}}\n{smtp}"
        f"sources:\n  - {{id: test-outlet, name: Test Outlet, feed_url: '{feed_url}', lang: en}}\n",
        encoding="utf-8")
    return path


def test_print_cron(tmp_path: Path) -> None:
    config = write_config(tmp_path / "aiwatch.yaml")
    result = CliRunner().invoke(cli, ["schedule", "--print-cron", "--db", str(tmp_path / "kb.db"),
                                      "--config", str(config)], env={"KB_SMTP_HOST": None})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "CRON_TZ=Europe/Paris" in lines and "SHELL=/bin/bash" in lines
    [update] = [line for line in lines if " update --db " in line]
    assert update.startswith("*/30 * * * * sleep $((RANDOM \\% 90)); ") and str(config) in update
    [digest] = [line for line in lines if " digest --db " in line]
    assert digest.startswith("0 7 * * mon ") and "--out" in digest


@pytest.mark.parametrize(("cron", "timezone", "message"), [
    ("61 7 * * mon", "UTC", "schedule.digest_cron: '61 7 * * mon' is not a cron expression"),
    ("0 7 * * mon", "Mars/Olympus", "schedule.timezone: unknown time zone 'Mars/Olympus'"),
])
def test_bad_schedule_is_one_error_line(tmp_path: Path, cron: str, timezone: str, message: str) -> None:
    config = write_config(tmp_path / "aiwatch.yaml", cron=cron, timezone=timezone)
    result = CliRunner().invoke(cli, ["schedule", "--once", "--db", str(tmp_path / "kb.db"),
                                      "--config", str(config)])
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {message}")
    assert result.stderr.count("\n") == 1


@pytest.mark.slow  # loads the embedding models or reads a large benchmark
def test_schedule_once_crawls_enriches_and_mails_the_digest(tmp_path: Path, server: FixtureServer,
                                                            smtp: tuple[Mailbox, int]) -> None:
    """`kb schedule --once` end to end: real child processes, a real feed, a real SMTP server."""
    mailbox, port = smtp
    day = IsoWeek.last_full(datetime.now(UTC)).start + timedelta(days=2, hours=9)
    title = "Brussels sets out how AI model makers must document training data"
    page = server.add("/news/ai-act-guidance.html", article_html(title, LOREM, date=day.date().isoformat()))
    feed = server.add("/feed.xml", rss2(server.base, [{"title": title, "link": page,
                                                       "date": format_datetime(day)}]),
                      content_type="application/rss+xml")
    config = write_config(tmp_path / "aiwatch.yaml", feed_url=feed, smtp_port=port)
    db = tmp_path / "kb.db"
    added = CliRunner().invoke(cli, ["subscribers", "add", "reader@example.org", "--db", str(db),
                                     "--config", str(config)])
    assert added.exit_code == 0, added.output

    proc = run_kb("schedule", "--once", "--db", str(db), "--config", str(config), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "update: ok" in proc.stdout and "digest: ok" in proc.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*), max(articles_new) from crawl_runs").fetchone() == (1, 1)
        assert conn.execute("select count(*) from article_summaries").fetchone() == (1,)
    private = open_private_db(tmp_path / "kb.private.db")
    assert last_run(private, "update")["status"] == "ok" and last_run(private, "digest")["status"] == "ok"
    [(rcpts, raw)] = mailbox.messages
    assert rcpts == ["reader@example.org"] and title.encode() in raw.replace(b"=\r\n", b"")

    again = run_kb("schedule", "--once", "--db", str(db), "--config", str(config), timeout=120)
    assert again.returncode == 0 and "nothing due" in again.stdout
    assert len(mailbox.messages) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from crawl_runs").fetchone() == (1,)



def test_foreground_schedule_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`kb schedule` as systemd runs it: nothing due at start (recent runs recorded), SIGTERM stops it."""
    config = write_config(tmp_path / "aiwatch.yaml")
    state = open_private_db(tmp_path / "kb.private.db")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for job in ("update", "digest"):
        state.table("job_runs").insert({"job": job, "started_at": now, "finished_at": now, "status": "ok"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    proc = subprocess.Popen([sys.executable, "-m", "kb", "schedule", "--db", str(tmp_path / "kb.db"),
                             "--config", str(config)], stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("schedule: crawl + enrich every 0:30:00"):
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "schedule stopped" in rest and not any("update:" in line for line in lines)
    assert state.execute("select count(*) from job_runs").fetchone()[0] == 2
