"""A wall-clock bound on one piece of work (rendering one post), by SIGALRM.

Every known slow input has a limit in :mod:`fieldfeed.limits`; this is the bound for the
ones nobody has found yet (python-markdown re-scans a paragraph after each inline match, so
a 2 MiB paragraph of links takes minutes while every limit holds). Signals only reach a
process's main thread: content loading renders in the main thread of the CLI or of a pool
worker, and :func:`fieldfeed.site.content.check_content` sends work to a pool when it runs on
any other thread (``fieldfeed run``), so the bound holds everywhere posts are rendered.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["DeadlineExceeded", "can_bound_here", "deadline"]


class DeadlineExceeded(Exception):
    """The work ran past its deadline and was interrupted."""


def can_bound_here() -> bool:
    """Whether :func:`deadline` can interrupt work on the calling thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _expire(signum: int, frame: FrameType | None) -> None:
    raise DeadlineExceeded


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise DeadlineExceeded inside the block after ``seconds``; no bound when ``seconds``
    is 0 or the calling thread cannot be interrupted (see :func:`can_bound_here`).

    The alarm may fire just as the block ends: then DeadlineExceeded leaves the ``with``
    statement itself, and the caller treats the work as too slow, which it nearly was.
    """
    if seconds <= 0 or not can_bound_here():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
