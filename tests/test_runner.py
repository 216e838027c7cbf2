"""``fieldfeed run``: the digest decision with a controllable clock, restarts, locks, SIGTERM.

No test sleeps to wait for a schedule: time is a value passed in. The pure ``plan`` and the
``Runner`` are driven minute by minute across both Berlin DST changes of 2026; restarts are
new ``Runner`` objects over the same store. The end-to-end tests use the real pipeline, a
real SQLite file, a Maildir or a real aiosmtpd server on 127.0.0.1, and one real
``fieldfeed run`` subprocess stopped with SIGTERM mid-send.
"""

from __future__ import annotations

import logging
import mailbox
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from smtp_server import SMTPTestServer
from test_sending import ENV, make_site

from fieldfeed.config import Settings
from fieldfeed.errors import LockedError
from fieldfeed.lock import site_lock
from fieldfeed.runner import Runner, SiteCronTrigger, plan
from fieldfeed.store import open_store, schema

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = "0 8 * * mon"
GRACE = timedelta(hours=6)
REPO = Path(__file__).resolve().parent.parent


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@dataclass
class FakeJobs:
    """Stands in for the pipeline: an 'issue' is created at the time publish is called."""

    issues: list[datetime] = field(default_factory=list)
    builds: list[datetime] = field(default_factory=list)
    unfinished: bool = False
    locked: bool = False

    def last_issue(self) -> tuple[datetime | None, bool]:
        return (self.issues[-1] if self.issues else None), self.unfinished

    def build_feeds(self, now: datetime) -> list[str]:
        self.builds.append(now)
        return ["feeds: built"]

    def publish(self, now: datetime) -> list[str]:
        if self.locked:
            raise LockedError("another fieldfeed run is sending for this site")
        self.builds.append(now)
        self.issues.append(now)
        self.unfinished = False
        return [f"digest #{len(self.issues)}: 3 sent"]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def site(
    tmp_path: Path, *, subscribers: int = 3, port: int | None = None, extra: str = ""
) -> Settings:
    return make_site(tmp_path, port=port, subscribers=subscribers, extra=extra)


# --- the pure decision ---------------------------------------------------------------------


def test_plan_basics() -> None:
    monday = berlin(2026, 11, 23, 8, 0)
    last = berlin(2026, 11, 16, 8, 0, 3)
    assert plan(monday - timedelta(minutes=1), last, WEEKLY, BERLIN, GRACE).action == "wait"
    d = plan(monday, last, WEEKLY, BERLIN, GRACE)
    assert (d.action, d.slot) == ("send", monday)
    assert d.next_run == berlin(2026, 11, 30, 8, 0)
    # Served: an issue created at or after the slot.
    assert plan(monday + timedelta(hours=1), monday, WEEKLY, BERLIN, GRACE).action == "wait"
    # Grace is inclusive; one minute past it is stale.
    assert plan(monday + GRACE, last, WEEKLY, BERLIN, GRACE).action == "send"
    stale = plan(monday + GRACE + timedelta(minutes=1), last, WEEKLY, BERLIN, GRACE)
    assert (stale.action, stale.slot) == ("skip", monday)
    assert "skipped the digest scheduled Mon 2026-11-23 08:00 CET" in stale.reason
    # Never sent: only a slot within grace is sent at start.
    assert plan(monday + timedelta(hours=1), None, WEEKLY, BERLIN, GRACE).action == "send"
    assert plan(monday + timedelta(days=2), None, WEEKLY, BERLIN, GRACE).action == "wait"
    with pytest.raises(ValueError):
        plan(datetime(2026, 11, 23, 8, 0), None, WEEKLY, BERLIN, GRACE)


def test_plan_picks_the_latest_missed_slot_and_skips_older_ones() -> None:
    daily = "0 8 * * *"
    last = berlin(2026, 11, 20, 8, 0)
    # Off from Friday to Monday 09:00: Monday's slot is within grace, the weekend's are not.
    d = plan(berlin(2026, 11, 23, 9, 0), last, daily, BERLIN, GRACE)
    assert (d.action, d.slot) == ("send", berlin(2026, 11, 23, 8, 0))
    d = plan(berlin(2026, 11, 22, 20, 0), last, daily, BERLIN, GRACE)
    assert (d.action, d.slot) == ("skip", berlin(2026, 11, 22, 8, 0))


@pytest.mark.parametrize(
    ("start", "mondays"),
    [
        # Berlin springs forward on Sunday 2026-03-29 (CET -> CEST)...
        (berlin(2026, 3, 21, 12, 0), [(2026, 3, 23), (2026, 3, 30), (2026, 4, 6)]),
        # ...and falls back on Sunday 2026-10-25 (CEST -> CET).
        (berlin(2026, 10, 17, 12, 0), [(2026, 10, 19), (2026, 10, 26), (2026, 11, 2)]),
    ],
)
def test_digest_fires_at_8_local_across_dst(
    tmp_path: Path, start: datetime, mondays: list[tuple[int, int, int]]
) -> None:
    """Drive the runner every 5 minutes for 17 days: one send per Monday, at 08:00 local."""
    settings = site(tmp_path, subscribers=0)
    jobs = FakeJobs(issues=[start - timedelta(days=1)])
    runner = Runner(settings, jobs=jobs)
    now = start.astimezone(UTC)
    while now < start + timedelta(days=17):
        runner.digest(now)  # as if a tick fired now: over-calling must be harmless
        now += timedelta(minutes=5)
    sent = [t.astimezone(BERLIN) for t in jobs.issues[1:]]
    assert [(t.year, t.month, t.day) for t in sent] == mondays
    assert all((t.hour, t.minute) == (8, 0) for t in sent)
    offsets = {t.utcoffset() for t in sent}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}, "both sides of the change"
    # The trigger APScheduler runs in ``run_forever`` agrees with the plan.
    trig = SiteCronTrigger(WEEKLY, BERLIN)
    fire = trig.get_next_fire_time(None, start)
    fires = []
    for _ in range(3):
        assert fire is not None
        fires.append(fire)
        fire = trig.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert [f.astimezone(UTC) for f in fires] == [t.astimezone(UTC) for t in sent]


# --- restarts and grace (the store is the truth) ---------------------------------------


def test_missed_digest_within_grace_is_sent_once_after_restart(tmp_path: Path) -> None:
    settings = site(tmp_path, subscribers=0)
    jobs = FakeJobs(issues=[berlin(2026, 11, 16, 8, 0)])
    boot = berlin(2026, 11, 23, 10, 30)  # the machine was off at 08:00
    assert Runner(settings, jobs=jobs).start(boot).action == "send"
    assert jobs.issues[-1] == boot
    for minutes in (1, 10, 300):  # restarts later that day: nothing more
        Runner(settings, jobs=jobs).start(boot + timedelta(minutes=minutes))
    assert len(jobs.issues) == 2


def test_stale_digest_is_skipped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = site(tmp_path, subscribers=0)
    jobs = FakeJobs(issues=[berlin(2026, 11, 16, 8, 0)])
    caplog.set_level(logging.INFO, logger="fieldfeed.runner")
    boot = berlin(2026, 11, 23, 14, 1)  # 6 h 1 min late
    assert Runner(settings, jobs=jobs).start(boot).action == "skip"
    assert len(jobs.issues) == 1 and jobs.builds == [boot]  # feeds still rebuilt
    assert "skipped the digest scheduled Mon 2026-11-23 08:00 CET" in caplog.text
    # The next Monday goes out as usual.
    Runner(settings, jobs=jobs).digest(berlin(2026, 11, 30, 8, 0))
    assert jobs.issues[-1] == berlin(2026, 11, 30, 8, 0)


def test_unfinished_issue_is_resumed_at_start_even_when_stale(tmp_path: Path) -> None:
    settings = site(tmp_path, subscribers=0)
    jobs = FakeJobs(issues=[berlin(2026, 11, 16, 8, 0)], unfinished=True)
    Runner(settings, jobs=jobs).start(berlin(2026, 11, 19, 12, 0))
    assert len(jobs.issues) == 2


def test_real_pipeline_catch_up_sends_each_subscriber_once(tmp_path: Path) -> None:
    settings = site(tmp_path, subscribers=3)
    outbox = mailbox.Maildir(settings.root / settings.delivery.maildir, create=True)
    boot = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)  # Monday 10:15 Berlin: 2 h 15 late
    assert Runner(settings).start(boot).action == "send"
    assert len(outbox) == 3
    assert (settings.output_dir / "rss.xml").exists()
    # Restart twice: the store says issue #1 went out; nothing more is sent.
    assert Runner(settings).start(boot + timedelta(minutes=3)).action == "wait"
    assert Runner(settings).start(boot + timedelta(hours=5)).action == "wait"
    assert len(outbox) == 3
    with open_store(settings.database_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.issues)).scalar() == 1


# --- one runner at a time --------------------------------------------------------------


def test_a_second_run_refuses_to_start(tmp_path: Path) -> None:
    settings = site(tmp_path, subscribers=0)
    first, second = Runner(settings, jobs=FakeJobs()), Runner(settings, jobs=FakeJobs())
    with first.hold(), pytest.raises(LockedError), second.hold():
        pass
    with second.hold():  # released: the next one may start
        pass


def test_digest_waits_while_a_manual_publish_sends(tmp_path: Path) -> None:
    settings = site(tmp_path, subscribers=3)
    outbox = mailbox.Maildir(settings.root / settings.delivery.maildir, create=True)
    monday = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    runner = Runner(settings)
    with site_lock(settings.state_dir):  # `fieldfeed publish` is sending
        runner.digest(monday)
    assert len(outbox) == 0 and runner.retry_at == monday + timedelta(minutes=1)
    runner.digest(runner.retry_at)
    assert len(outbox) == 3 and runner.retry_at is None


def test_two_runners_never_both_send(tmp_path: Path) -> None:
    """Two runners (as if two machines' cron fired at once) race for the same slot."""
    settings = site(tmp_path, subscribers=20)
    outbox = mailbox.Maildir(settings.root / settings.delivery.maildir, create=True)
    monday = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    runners = [Runner(settings), Runner(settings)]
    barrier = threading.Barrier(2)

    def go(r: Runner) -> None:
        barrier.wait()
        r.digest(monday)

    threads = [threading.Thread(target=go, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # Whoever lost the lock retries a minute later and finds the issue already out.
    for r in runners:
        if r.retry_at is not None:
            assert r.digest(r.retry_at).action == "wait"
    recipients = sorted(str(m["To"]) for m in outbox)
    assert len(recipients) == 20 and len(set(recipients)) == 20


# --- the loop and SIGTERM ------------------------------------------------------------------


def test_run_forever_starts_builds_and_stops(tmp_path: Path) -> None:
    settings = site(tmp_path, subscribers=0)
    jobs = FakeJobs(issues=[datetime.now(UTC)])
    runner = Runner(settings, jobs=jobs)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while not jobs.builds and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(LockedError):  # while it runs, a second one cannot
        Runner(settings, jobs=FakeJobs()).run_forever(threading.Event())
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and len(jobs.builds) == 1


@pytest.mark.slow
def test_sigterm_finishes_the_message_in_flight_and_exits_cleanly(tmp_path: Path) -> None:
    with SMTPTestServer(lifetime=60) as server:
        settings = site(tmp_path, subscribers=60, port=server.port)
        server.slow_down(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDFEED_")}
        env.update(ENV)
        # Monday 09:00 Berlin: an hour after the slot, so the start catches it up.
        env["FIELDFEED_NOW"] = "2026-11-23T08:00:00+00:00"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        log = tmp_path / "run.log"
        with (
            log.open("wb") as sink,
            subprocess.Popen(
                [sys.executable, "-m", "fieldfeed", "run", "--site", str(settings.root)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            ) as proc,
        ):
            try:
                assert server.wait_for(5, timeout=30), log.read_text()
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=20)
            finally:
                if proc.poll() is None:
                    proc.kill()
        time.sleep(0.1)
        received = server.count
    text = log.read_text()
    assert code == 0, text
    assert "SIGTERM received" in text and "finished and recorded" in text
    assert "Traceback" not in text
    assert 5 <= received < 60
    with open_store(settings.database_url).connect() as conn:
        statuses = dict(
            conn.execute(
                sa.select(schema.deliveries.c.status, sa.func.count()).group_by(
                    schema.deliveries.c.status
                )
            ).all()
        )
        issue_status = conn.execute(sa.select(schema.issues.c.status)).scalar()
    # Every message the server accepted is recorded as sent; none is left "sending".
    assert statuses.get("sent") == received, statuses
    assert "sending" not in statuses
    assert issue_status == "open"
