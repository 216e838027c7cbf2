"""A per-client sliding-window rate limit (in memory, one process).

Enough for one ``serve`` process behind a reverse proxy; the proxy must pass the client
address (uvicorn trusts X-Forwarded-For from 127.0.0.1 by default). The clock is passed in.
"""

from __future__ import annotations

import threading
from collections import deque


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float = 3600.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> float | None:
        """Record one event for ``key``. None if allowed, else seconds until the next is."""
        if self.limit <= 0:
            return None
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.max_keys:
                    self._prune(now)
                events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(1.0, events[0] + self.window - now)
            events.append(now)
            return None

    def _prune(self, now: float) -> None:
        """Forget keys with no event in the window (bounded memory under many addresses)."""
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            del self._events[key]
        if len(self._events) >= self.max_keys:  # still full: a flood of fresh addresses
            self._events.clear()
