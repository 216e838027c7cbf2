"""Per-key sliding-window rate limits (in memory, one process), and the keys they count by.

Enough for one ``serve`` process behind a reverse proxy; the proxy must pass the client
address (uvicorn trusts X-Forwarded-For from 127.0.0.1 by default). The clock is passed in.

A limit is only as good as its key: :func:`mailbox_key` and :func:`network_key` map every
spelling of one mailbox, and every address of one IPv6 /64, to one key, so an attacker
cannot multiply a limit by varying case, ``+tags`` or the low 64 bits of an address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
from collections import OrderedDict

log = logging.getLogger(__name__)

#: Domains whose mailboxes ignore dots in the local part (Google documents this for Gmail:
#: "j.doe" and "jdoe" are one inbox). Nowhere else: elsewhere they may be two people.
_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(address: str) -> str:
    """One key per mailbox: ``Victim+1@Example.org`` and ``victim@example.org`` are one.

    Case-folded, the ``+tag`` sub-address dropped, the domain IDNA-encoded (``bücher.example``
    and ``xn--bcher-kva.example`` are one domain), and for Gmail the dots dropped too.
    Only for counting: a key may merge two real mailboxes (stricter, never looser).
    """
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    # Not encodable: the case-folded form is still one key per spelling.
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    if domain == "googlemail.com":
        domain = "gmail.com"
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def network_key(host: str) -> str:
    """One key per client network: an IPv4 address, or the /64 of an IPv6 address.

    One IPv6 host usually holds a whole /64 (SLAAC, privacy addresses), so counting single
    addresses would give it 2**64 budgets. IPv4-mapped addresses count as their IPv4 form.
    Anything else (a Unix socket, "unknown") is its own key.
    """
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key, in bounded memory.

    At most ``max_keys`` keys are remembered. When a new key would exceed that, keys whose
    events have all expired go first, then the least recently seen key: never everything at
    once, so flooding fresh keys cannot reset the counter of a key still being hit (a blocked
    attempt counts as being seen). Flushing one key out takes ``max_keys`` fresh keys with no
    attempt on it in between.
    """

    def __init__(self, limit: int, window: float = 3600.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max(1, max_keys)
        #: key -> event times (oldest first), ordered by when the key was last seen.
        self._events: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._evicted_live = 0

    def hit(self, key: str, now: float) -> float | None:
        """Record one event for ``key``. None if allowed, else seconds until the next is."""
        if self.limit <= 0:
            return None
        with self._lock:
            events = self._events.get(key)
            if events is None:
                self._make_room(now)
                events = self._events[key] = []
            else:
                self._events.move_to_end(key)
            horizon = now - self.window
            while events and events[0] <= horizon:
                events.pop(0)
            if len(events) >= self.limit:
                return max(1.0, events[0] + self.window - now)
            events.append(now)
            return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def _make_room(self, now: float) -> None:
        """Drop expired keys from the least recently seen end; if still full, drop one key."""
        horizon = now - self.window
        while self._events:
            oldest = next(iter(self._events))
            events = self._events[oldest]
            if events and events[-1] > horizon:
                break
            del self._events[oldest]
        if len(self._events) >= self.max_keys:
            self._events.popitem(last=False)
            self._evicted_live += 1
            if self._evicted_live in (1, 1000) or self._evicted_live % 100_000 == 0:
                log.warning(
                    "rate limiter full (%d keys): forgetting the least recently seen "
                    "(%d so far); a flood of distinct clients or addresses?",
                    self.max_keys,
                    self._evicted_live,
                )
