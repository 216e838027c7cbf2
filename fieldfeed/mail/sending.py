"""The ledger-driven sender: hand each pending message to a transport exactly once.

``concurrency`` worker threads each own one transport (one SMTP connection) and take ledger
rows from a shared queue. For every message a worker commits ``sending`` *before* handing it
over and ``sent``/``failed`` after; the outcome of one message and the claim of the next share
one commit, so a message costs one transaction. A crash therefore leaves at most one row per
connection in ``sending``: the only recipients a rerun may send a second copy to.

4xx replies and dropped connections are retried with capped exponential backoff (reconnecting
after a drop); a 5xx fails that recipient for this issue and the others go on. When the relay
cannot be reached ``max_attempts`` times in a row the run stops, leaving the rest ``pending``
for the next run: a dead relay loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from fieldfeed.errors import FieldfeedError
from fieldfeed.mail.transports import PermanentFailure, TemporaryFailure, Transport
from fieldfeed.model import Subscriber
from fieldfeed.store.ledger import Delivery, Finish, Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendPolicy:
    """How hard and how fast to send."""

    concurrency: int = 1
    rate_limit: float = 0.0  #: messages per second over all connections; 0: no limit
    max_attempts: int = 5  #: tries per message (and connection attempts in a row)
    backoff_base: float = 1.0  #: seconds before the first retry; doubles each time
    backoff_cap: float = 60.0

    def backoff(self, tries: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * 2 ** (tries - 1)))


@dataclass(frozen=True, slots=True)
class Job:
    """One message to send: its ledger row and the person it is for."""

    delivery: Delivery
    subscriber: Subscriber


@dataclass(frozen=True, slots=True)
class MessageResult:
    """What happened to one message in this run (for progress displays)."""

    delivery: Delivery
    status: str  #: "sent", "failed", or "pending"/"sending" when the run stopped
    reply: str
    tries: int


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The run's summary. Failures are values here, not exceptions."""

    sent: int
    failed: tuple[MessageResult, ...]
    retried: int  #: retries over all messages (a 4xx or a dropped connection each)
    bounced: tuple[str, ...]  #: addresses that became ``bounced`` in this run
    left: int  #: rows not finished because the run stopped early
    seconds: float
    #: Why the run stopped before the end (the relay's last answer), or None.
    stopped: str | None = None

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


class RateLimiter:
    """Spaces messages ``1/rate`` seconds apart across all threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            stop.wait(slot - now)


@dataclass
class _Shared:
    sent: int = 0
    retried: int = 0
    failed: list[MessageResult] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    stopped: str | None = None
    error: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_all(
    jobs: Iterable[Job],
    *,
    build: Callable[[Job], bytes],
    connect: Callable[[], Transport],
    ledger: Ledger,
    envelope_from: str,
    policy: SendPolicy,
    clock: Callable[[], datetime],
    on_result: Callable[[MessageResult], None] | None = None,
) -> SendOutcome:
    """Send every job (its row pending or sending) and record each outcome.

    ``jobs`` is consumed lazily through a small bounded queue, so memory does not grow with
    the number of recipients when the caller streams them from the database. ``build`` makes
    a message's bytes (a MessageError there fails that recipient only); ``connect`` makes an
    unconnected transport (it connects on first send). Raises only what makes sending
    impossible (DeliveryError: bad login, TLS refused), after recording every outcome so far;
    otherwise every result is in the returned outcome.
    """
    started = time.monotonic()
    workers = max(1, policy.concurrency)
    work: queue.Queue[Job | None] = queue.Queue(maxsize=workers * 8)
    shared = _Shared()
    stop = threading.Event()
    limiter = RateLimiter(policy.rate_limit)

    def report(result: MessageResult) -> None:
        with shared.lock:
            if result.status == "sent":
                shared.sent += 1
            elif result.status == "failed":
                shared.failed.append(result)
            if on_result is not None:
                on_result(result)

    def commit(finish: Finish | None, claim: Delivery | None = None) -> None:
        if ledger.step(finish=finish, claim=claim, now=clock()) and finish is not None:
            with shared.lock:
                shared.bounced.append(finish.delivery.email)

    def worker() -> None:
        transport: Transport | None = None
        finish: Finish | None = None
        try:
            while not stop.is_set():
                job = work.get()
                if job is None:
                    break
                d = job.delivery
                try:
                    message = build(job)
                except FieldfeedError as exc:  # e.g. a header that would inject lines
                    result = MessageResult(d, "failed", f"not sent: {exc}", 0)
                    commit(finish)
                    finish = Finish(d, "failed", d.attempts, result.reply)
                    report(result)
                    continue
                commit(finish, claim=d)
                finish = None
                tries = 0
                while True:
                    tries += 1
                    limiter.wait(stop)
                    if transport is None:
                        transport = connect()
                    try:
                        reply = transport.send(envelope_from, d.email, message)
                    except PermanentFailure as exc:
                        finish = Finish(d, "failed", d.attempts + tries, exc.reply, True)
                        report(MessageResult(d, "failed", exc.reply, tries))
                        break
                    except TemporaryFailure as exc:
                        if exc.dropped:
                            transport.close()
                            transport = None
                        if tries >= policy.max_attempts or stop.is_set():
                            if exc.dropped:
                                # The relay is gone: stop the run, keep the rest for a rerun.
                                # A message whose end was sent stays "sending" (ambiguous).
                                status = "sending" if exc.maybe_delivered else "pending"
                                finish = Finish(d, status, d.attempts + tries, exc.reply)
                                with shared.lock:
                                    shared.stopped = shared.stopped or exc.reply
                                stop.set()
                                report(MessageResult(d, status, exc.reply, tries))
                            else:
                                reply = f"{exc.reply} (gave up after {tries} tries)"
                                finish = Finish(d, "failed", d.attempts + tries, reply)
                                report(MessageResult(d, "failed", reply, tries))
                            break
                        with shared.lock:
                            shared.retried += 1
                        delay = policy.backoff(tries)
                        log.info("%s: %s; retrying in %.1fs", d.email, exc.reply, delay)
                        stop.wait(delay)
                        continue
                    except BaseException:
                        # Not sent (a Maildir write error, a bug): back to pending.
                        finish = Finish(d, "pending", d.attempts + tries, "interrupted")
                        raise
                    finish = Finish(d, "sent", d.attempts + tries, reply)
                    report(MessageResult(d, "sent", reply, tries))
                    break
        except BaseException as exc:
            with shared.lock:
                shared.error = shared.error or exc
            stop.set()
        finally:
            try:
                if finish is not None:
                    commit(finish)
            finally:
                if transport is not None:
                    transport.close()

    threads = [
        threading.Thread(target=worker, name=f"fieldfeed-send-{i}", daemon=True)
        for i in range(workers)
    ]
    produced = 0

    def put(item: Job | None) -> bool:
        while not stop.is_set():
            try:
                work.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for th in threads:
            th.start()
        for job in jobs:
            if not put(job):
                break
            produced += 1
        for _ in threads:
            put(None)
        stop_waiting = stop.is_set()
        if stop_waiting:  # workers stopped early: unblock any still waiting for work
            for _ in threads:
                with contextlib.suppress(queue.Full):
                    work.put_nowait(None)
        for th in threads:
            while th.is_alive():
                th.join(0.2)
    except BaseException:
        # Ctrl-C, or reading the next rows failed: let each worker record the message it
        # holds before the ledger connection closes.
        stop.set()
        for _ in threads:
            with contextlib.suppress(queue.Full):
                work.put_nowait(None)
        for th in threads:
            th.join()
        raise
    finally:
        ledger.close()
    if shared.error is not None:
        raise shared.error
    return SendOutcome(
        sent=shared.sent,
        failed=tuple(shared.failed),
        retried=shared.retried,
        bounced=tuple(shared.bounced),
        left=produced - shared.sent - len(shared.failed),
        seconds=time.monotonic() - started,
        stopped=shared.stopped,
    )
