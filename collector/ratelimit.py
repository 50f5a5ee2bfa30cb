"""Per-device token buckets (windows per second) with bounded memory.

>>> rl = RateLimiter(rate_per_s=1.0, burst=2)
>>> [rl.take("dev-1", now=0.0) for _ in range(3)]
[0.0, 0.0, 1.0]
>>> rl.take("dev-1", now=1.0), rl.take("dev-2", now=1.0)
(0.0, 0.0)
"""

from __future__ import annotations

import math
from collections import OrderedDict


class RateLimiter:
    """``take(device, now)`` returns 0.0 if allowed, else the seconds until a token is free.

    >>> RateLimiter(rate_per_s=0.5, burst=1).take("d", 0.0), RateLimiter.retry_after(0.2)
    (0.0, 1)

    Buckets are kept in LRU order; past ``max_devices`` the least recently
    seen device's bucket is dropped (it would have refilled to full anyway
    unless that device is flooding, in which case it is recent).
    """

    def __init__(self, rate_per_s: float, burst: float, max_devices: int = 100_000) -> None:
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self.max_devices = max_devices
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, device_id: str, now: float, cost: float = 1.0) -> float:
        tokens, at = self._buckets.get(device_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= cost:
            self._buckets[device_id] = (tokens - cost, now)
            self._buckets.move_to_end(device_id)
            while len(self._buckets) > self.max_devices:
                self._buckets.popitem(last=False)
            return 0.0
        self._buckets[device_id] = (tokens, now)
        self._buckets.move_to_end(device_id)
        return (cost - tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> int:
        """Whole seconds for a ``Retry-After`` header (at least 1)."""
        return max(1, math.ceil(wait_s))
