"""How many corrections one client may store: a token bucket per client address.

POST /api/samples writes to disk (the sample store), and what it stores is what `finetune`
learns from, so one client sending in a loop must neither fill the disk nor outweigh
everyone else. Each client address holds up to `--samples-per-minute` tokens, one back
every 60/N seconds; a post takes one, and a post with none left is a 429 with Retry-After.
The count is per worker process (N workers let a client store up to N times as many), and
behind a proxy every client has the proxy's address; `--max-samples` bounds the store
whatever the addresses. The table of clients is bounded too: past MAX_CLIENTS the one
seen longest ago is forgotten (it comes back with a full bucket).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

MAX_CLIENTS = 10_000


class ClientQuota:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity, self.rate = float(per_minute), per_minute / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take one token for `client`: 0.0 when it had one, else the seconds until it has."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait
