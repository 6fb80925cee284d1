"""`kb schedule`: crawl + enrich every N minutes (with jitter) and the weekly digest at a cron time.

Each job runs as a child process (``python -m kb update ...``, ``python -m kb digest ...``): Scrapy's
reactor can start only once per process, and a crash stays in the child. A lock file per job
(``<db>.update.lock``, ``<db>.digest.lock``) stops two runs of a job overlapping, across processes;
a run that finds the lock taken is recorded as skipped and stays due. Every attempt is recorded in
the private database's ``job_runs`` table, which is also how ``--once`` and a restarted scheduler
know what is due: a run missed during downtime runs once, not once per missed slot.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlite_utils.db import Database

from kb.core.clock import to_iso
from kb.core.config import Schedule
from kb.core.errors import EXIT_LOCKED, KbError, LockedError
from kb.core.runlock import run_lock

logger = logging.getLogger("aiwatch.schedule")
JOBS = ("update", "digest")
LOOKBACK = timedelta(days=7)
TIMEOUTS = {"update": 4 * 3600, "digest": 3600}


class ScheduleError(KbError):
    """The schedule in the configuration cannot be used (bad cron expression or time zone)."""


@dataclass
class Outcome:
    status: str  # ok | failed | skipped
    detail: str = ""


Runner = Callable[[], Outcome]


@dataclass
class Plan:
    """When each job is due: the crawl interval (plus jitter) and the digest's cron trigger."""

    every: timedelta
    jitter: float
    digest_cron: str
    timezone: ZoneInfo
    trigger: Any = field(repr=False)

    @classmethod
    def from_config(cls, schedule: Schedule) -> Plan:
        from apscheduler.triggers.cron import CronTrigger

        try:
            tz = ZoneInfo(schedule.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"schedule.timezone: unknown time zone {schedule.timezone!r}") from None
        if schedule.crawl_every_minutes < 1:
            raise ScheduleError("schedule.crawl_every_minutes: must be at least 1")
        try:
            trigger = CronTrigger.from_crontab(schedule.digest_cron, timezone=tz)
        except ValueError as exc:
            raise ScheduleError(f"schedule.digest_cron: {schedule.digest_cron!r} is not a cron "
                                f"expression ({exc})") from None
        return cls(every=timedelta(minutes=schedule.crawl_every_minutes),
                   jitter=schedule.jitter_seconds, digest_cron=schedule.digest_cron, timezone=tz,
                   trigger=trigger)

    def next_digest(self, after: datetime) -> datetime | None:
        """The first digest slot strictly after ``after``."""
        return self.trigger.get_next_fire_time(None, after.astimezone(self.timezone) + timedelta(seconds=1))


# -- state: the job_runs table of the private database --------------------------------------------

def last_run(db: Database, job: str) -> dict[str, Any] | None:
    """The latest attempt of ``job`` that ran (ok or failed; skipped attempts do not count)."""
    return next(db.query("select * from job_runs where job = ? and status in ('ok', 'failed', "
                         "'running') order by started_at desc, id desc limit 1", [job]), None)


def start_run(db: Database, job: str, now: datetime) -> int:
    with db.conn:
        return int(db.table("job_runs").insert({"job": job, "started_at": to_iso(now),
                                                "status": "running"}).last_pk or 0)


def finish_run(db: Database, run_id: int, outcome: Outcome, now: datetime) -> None:
    with db.conn:
        db.table("job_runs").update(run_id, {"finished_at": to_iso(now), "status": outcome.status,
                                       "detail": outcome.detail[-2000:]})


def due_jobs(db: Database, plan: Plan, now: datetime) -> list[str]:
    """The jobs due at ``now``: never run, or their interval / cron slot has passed since the last run.

    A digest run that failed is due again one crawl interval later (its unsent mail is retried).
    """
    due = []
    update = last_run(db, "update")
    if update is None or _time(update["started_at"]) + plan.every <= now:
        due.append("update")
    digest = last_run(db, "digest")
    base = _time(digest["started_at"]) if digest else now - LOOKBACK
    slot = plan.next_digest(base)
    if (slot is not None and slot <= now) or (
            digest and digest["status"] == "failed" and _time(digest["started_at"]) + plan.every <= now):
        due.append("digest")
    return due


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- running a job --------------------------------------------------------------------------------

def run_job(db: Database, job: str, runner: Runner, *, lock_path: str | Path,
            clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Outcome:
    """Run one job under its lock and record the attempt; a held lock means 'skipped'."""
    try:
        with run_lock(lock_path):
            run_id = start_run(db, job, clock())
            started = time.perf_counter()
            try:
                outcome = runner()
            except Exception as exc:  # a runner bug must not kill the scheduler; record it
                outcome = Outcome("failed", f"{type(exc).__name__}: {exc}")
            finish_run(db, run_id, outcome, clock())
            logger.info("%s: %s in %.1f s%s", job, outcome.status, time.perf_counter() - started,
                        f" ({_last_line(outcome.detail)})" if outcome.detail else "")
            return outcome
    except LockedError as exc:
        outcome = Outcome("skipped", str(exc))
        now = to_iso(clock())
        with db.conn:
            db.table("job_runs").insert({"job": job, "started_at": now, "finished_at": now,
                                   "status": "skipped", "detail": str(exc)})
        logger.info("%s: skipped, %s", job, exc)
        return outcome


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def child_runner(args: list[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Runner:
    """A runner that runs ``python -m kb ARGS`` and turns its exit status into an Outcome."""
    def run() -> Outcome:
        command = [sys.executable, "-m", "kb", *args]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  env=dict(env) if env is not None else None)
        except subprocess.TimeoutExpired:
            return Outcome("failed", f"timed out after {timeout:.0f} s: {shlex.join(command)}")
        detail = (proc.stdout.strip() + "\n" + proc.stderr.strip()).strip()
        if proc.returncode == 0:
            return Outcome("ok", detail)
        if proc.returncode == EXIT_LOCKED:
            return Outcome("skipped", detail)
        return Outcome("failed", f"exit {proc.returncode}: {detail}")
    return run


@dataclass
class Scheduler:
    """The jobs, their runners and their state; ``run_due`` for --once, ``start`` for the foreground.

    The state lives in the private database at ``state_path``; each run opens its own connection,
    since APScheduler runs jobs in worker threads and a SQLite connection stays in its thread.
    """

    state_path: Path
    plan: Plan
    runners: dict[str, Runner]
    lock_base: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def state(self) -> Database:
        from kb.publish.digest.subscribers import open_private_db

        return open_private_db(self.state_path)

    def run(self, job: str) -> Outcome:
        db = self.state()
        try:
            return run_job(db, job, self.runners[job], lock_path=f"{self.lock_base}.{job}",
                           clock=self.clock)
        finally:
            db.close()

    def due(self) -> list[str]:
        db = self.state()
        try:
            return due_jobs(db, self.plan, self.clock())
        finally:
            db.close()

    def run_due(self) -> dict[str, Outcome]:
        """Run every job that is due now, once each, crawl first. Returns their outcomes."""
        return {job: self.run(job) for job in self.due()}

    def start(self, *, blocking: bool = True) -> Any:
        """Catch up on what is due, then run the jobs on their triggers (APScheduler)."""
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.schedulers.blocking import BlockingScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self.run_due()
        cls = BlockingScheduler if blocking else BackgroundScheduler
        aps = cls(timezone=self.plan.timezone,
                  job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        db = self.state()
        last = last_run(db, "update")
        db.close()
        first = max(self.clock(), _time(last["started_at"]) + self.plan.every) if last else self.clock()
        aps.add_job(self._tick, IntervalTrigger(seconds=self.plan.every.total_seconds(),
                                                jitter=self.plan.jitter or None, start_date=first,
                                                timezone=self.plan.timezone), id="update")
        aps.add_job(self.run, self.plan.trigger, args=["digest"], id="digest")
        logger.info("schedule: crawl + enrich every %s (jitter %s s), digest at '%s' %s",
                    self.plan.every, self.plan.jitter, self.plan.digest_cron, self.plan.timezone.key)
        aps.start()
        return aps

    def _tick(self) -> None:
        """The interval job: crawl + enrich, then a digest retry if the last one failed."""
        self.run("update")
        if "digest" in self.due():
            self.run("digest")


def build_scheduler(db_path: str, config_name: str | None, plan: Plan, state_path: Path, *,
                    smtp_configured: bool, outbox: Path,
                    env: Mapping[str, str] | None = None) -> Scheduler:
    """The real jobs: child processes of `kb update` and `kb digest` on this database and config."""
    common = ["--db", str(db_path)] + (["--config", str(config_name)] if config_name else [])
    target = ["--send"] if smtp_configured else ["--out", str(outbox)]
    runners = {
        "update": child_runner(["update", *common, "-q"], timeout=TIMEOUTS["update"], env=env),
        "digest": child_runner(["digest", *common, *target], timeout=TIMEOUTS["digest"], env=env),
    }
    return Scheduler(state_path=state_path, plan=plan, runners=runners, lock_base=str(db_path))


def cron_lines(db_path: str, config_name: str | None, plan: Plan, *, smtp_configured: bool,
               outbox: Path, log_path: Path) -> list[str]:
    """Crontab lines equivalent to the schedule (cron's own clock; `%` escaped for crontab)."""
    kb = f"{shlex.quote(sys.executable)} -m kb"
    db = shlex.quote(str(Path(db_path).resolve()))
    config = ""
    if config_name:
        path = Path(config_name)
        config = f" --config {shlex.quote(str(path.resolve()) if path.exists() else config_name)}"
    log = shlex.quote(str(log_path.resolve()))
    minutes = int(plan.every.total_seconds() // 60)
    if minutes < 60 and 60 % minutes == 0:
        when = f"*/{minutes} * * * *" if minutes > 1 else "* * * * *"
    elif minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        when = f"0 */{minutes // 60} * * *" if minutes > 60 else "0 * * * *"
    else:
        when = f"*/{minutes} * * * *"
    sleep = f"sleep $((RANDOM \\% {int(plan.jitter)})); " if plan.jitter else ""
    target = "--send" if smtp_configured else f"--out {shlex.quote(str(outbox.resolve()))}"
    return [
        "# aiwatch schedule (kb schedule --print-cron). Install with: crontab -e",
        "# SMTP settings (KB_SMTP_HOST, KB_SMTP_PASSWORD, ...) must be set in this file or the config.",
        "SHELL=/bin/bash",
        f"CRON_TZ={plan.timezone.key}",
        f"# crawl + enrich every {minutes} minutes, with up to {int(plan.jitter)} s of jitter",
        f"{when} {sleep}{kb} update --db {db}{config} -q >> {log} 2>&1",
        "# the weekly digest of the last full week (re-runs never mail anyone twice)",
        f"{plan.digest_cron} {kb} digest --db {db}{config} {target} >> {log} 2>&1",
    ]


def default_env() -> dict[str, str]:
    """The environment for child jobs: ours, with the Hugging Face hub kept offline."""
    return {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
