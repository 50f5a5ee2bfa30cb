"""Delivery to a real gateway configured with tight limits: its 429 (rate limit, with
Retry-After) and its 413 (request too large) as the SDK meets them."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from sdk_gateway import SdkGateway, drain, seal

RATE_PER_S, BURST, MAX_BODY = 1.0, 3, 1000


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkGateway]:
    """This module's gateway: 3 windows of burst then 1 a second per device; bodies of at
    most 1000 bytes (a few small windows fit, a big one alone does not)."""
    data = tmp_path_factory.mktemp("gateway")
    config = data / "edgedrift.toml"
    config.write_text(f"[gateway]\nrate_per_s = {RATE_PER_S}\nrate_burst = {BURST}\n"
                      f"max_body_bytes = {MAX_BODY}\n")
    gw = SdkGateway(data, config=str(config)).start()
    try:
        yield gw
    finally:
        gw.close()


def test_429_retry_after_is_honoured(gateway, device, gw_monitor):
    mon = gw_monitor(batch_size=1, backoff_max_s=5.0)   # Retry-After is capped at 4 x this
    seqs = seal(mon, BURST + 1)
    before = gateway.rejected("rate_limited")
    for _ in range(BURST):
        assert mon.sender.send_once() is True
    asked = time.monotonic()
    assert mon.sender.send_once() is False             # 429: past the burst
    assert gateway.rejected("rate_limited") == before + 1
    assert mon.sender._next_attempt - asked >= 0.9     # scheduled after Retry-After (1 s)
    assert mon.spool.backlog()[0] == 1                 # kept for later
    assert drain(mon, rounds=400)
    assert gateway.accepted_seqs(device.id) == seqs


def _big_window(mon) -> int:
    """A window whose request alone is over the gateway's body limit."""
    rng = random.Random(1)
    for _ in range(200):
        mon.log({f"f{j}": rng.random() * 1000 for j in range(40)})
    return mon.seal_window()["sq"]


def test_a_batch_refused_as_a_whole_is_retried_window_by_window(gateway, device, gw_monitor):
    """413 for a whole batch does not say which window is too big: each is tried alone,
    and only the one the collector refuses alone is dropped."""
    mon = gw_monitor()
    seqs = seal(mon, 2)
    big = _big_window(mon)
    seqs += seal(mon, 1)
    before = gateway.rejected()
    assert drain(mon)
    assert gateway.accepted_seqs(device.id) == seqs    # all but the big one
    assert mon.spool.counters()["rejected"] == 1
    assert gateway.rejected() >= before + 2            # the batch, then the big one alone
    assert big not in gateway.accepted_seqs(device.id)
