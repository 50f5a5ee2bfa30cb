"""The SDK's delivery tests against the real collector, plus the helpers they share.

:class:`SdkGateway` runs a real ``edgedrift gateway`` (embedded sink: its 202 means the
window is in Parquet) with a pool of registered devices; each test takes a fresh device,
so one gateway process serves a whole test module. What the gateway accepted is read
back from the dataset as it is (the sink writes each window once, so no dedup here).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "collector"))

from gateway_harness import GatewayProcess, KeyPool, metrics  # noqa: E402

from edge_sdk.spool import SUFFIX  # noqa: E402


@dataclass(frozen=True)
class Device:
    """A device registered with the gateway: its id and its key."""

    id: str
    key: str


class SdkGateway:
    """One real gateway for a test module; ``stop()``/``start()`` for an outage (same port),
    ``pause()``/``resume()`` for a collector that accepts connections but never answers."""

    def __init__(self, data_dir: Path, devices: int = 40, config: str | None = None) -> None:
        self.data_dir = data_dir
        self.pool = KeyPool(data_dir, count=devices, prefix="sdk")
        self.process = GatewayProcess(data_dir, config=config)
        self._paused = False

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SdkGateway:
        self.process.start()
        return self

    def stop(self) -> None:
        self.resume()
        self.process.stop()

    def close(self) -> None:
        self.stop()
        self.process.__exit__(None, None, None)

    def ensure_running(self) -> None:
        """Undo what a failed test may have left: resumed, started."""
        self.resume()
        proc = self.process.proc
        if proc is None or proc.poll() is not None:
            self.start()

    def pause(self) -> None:
        """SIGSTOP the gateway's process group: connections are accepted, nothing answers."""
        assert self.process.proc is not None
        os.killpg(self.process.proc.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self._paused and self.process.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.proc.pid, signal.SIGCONT)
        self._paused = False

    # -- what the devices see ------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{self.process.url}/v1/telemetry"

    def device(self) -> Device:
        return Device(*self.pool.take())

    # -- what the collector kept ----------------------------------------------------------
    def windows(self, device: str) -> list[dict[str, Any]]:
        """The device's windows in Parquet, by seq: sq, n, ws, we (ms) and its health (dp,
        dc, rj) - the names of the wire body."""
        root = self.data_dir / "telemetry" / "windows"
        if not any(root.rglob("*.parquet")):
            return []
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT seq, n, epoch_ms(window_start), epoch_ms(window_end), sdk_dropped, "
                "sdk_corrupt, sdk_rejected FROM read_parquet(?, hive_partitioning = true) "
                "WHERE device_id = ? ORDER BY seq",
                [str(root / "**" / "*.parquet"), device]).fetchall()
        finally:
            con.close()
        keys = ("sq", "n", "ws", "we", "dp", "dc", "rj")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def categories(self, device: str, feature: str) -> dict[int, dict[str, int]]:
        """{seq: {category: count}} of one categorical feature of the device's windows."""
        root = self.data_dir / "telemetry" / "categories"
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT seq, category, count FROM read_parquet(?, hive_partitioning = true) "
                "WHERE device_id = ? AND feature = ?",
                [str(root / "**" / "*.parquet"), device, feature]).fetchall()
        finally:
            con.close()
        out: dict[int, dict[str, int]] = {}
        for seq, category, count in rows:
            out.setdefault(seq, {})[category] = count
        return out

    def accepted_seqs(self, device: str) -> list[int]:
        return [w["sq"] for w in self.windows(device)]

    def metric(self, name: str) -> float:
        """One value of ``/metrics`` now (``name`` with its labels), 0 when absent."""
        with self.process.client() as c:
            return metrics(c).get(name, 0.0)

    def rejected(self, reason: str | None = None) -> float:
        """Rejections for ``reason`` so far, or for every reason."""
        with self.process.client() as c:
            values = metrics(c)
        if reason is not None:
            return values.get(f'edgedrift_gateway_rejected_total{{reason="{reason}"}}', 0.0)
        return sum(v for k, v in values.items() if k.startswith("edgedrift_gateway_rejected_total"))


# -- the monitor side ----------------------------------------------------------------------
def spool_files(mon) -> list[Path]:
    return sorted(mon.spool.dir.glob("*" + SUFFIX))


def seal(mon, n: int, records: int = 3) -> list[int]:
    """Log ``records`` records into each of ``n`` windows, seal them; their seqs."""
    seqs = []
    for _ in range(n):
        for i in range(records):
            mon.log({"x": float(i), "mic": "front"}, prediction=0.5, latency_ms=2.0)
        seqs.append(mon.seal_window()["sq"])
    return seqs


def drain(mon, rounds: int = 200) -> bool:
    """Send the spool without sealing a new window (flush() would seal one)."""
    for _ in range(rounds):
        if not mon.spool.backlog()[0]:
            return True
        mon.sender.send_once()
        time.sleep(0.01)
    return not mon.spool.backlog()[0]
