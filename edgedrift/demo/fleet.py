"""A simulated edge fleet for the demo: realistic sensor-like features, segments and injected drift.

Two models run on 200 devices by default:

* ``kws`` (keyword spotting, 1.3.0) on microphones: audio energy (``rms``),
  zero-crossing rate, spectral centroid, SNR, board temperature and a
  categorical ``mic``; firmware 2.0 and 2.1 segments.
* ``har`` (human activity recognition) on wearables: accelerometer mean and
  standard deviation, gyro energy, temperature and a categorical ``sensor``;
  version 2.0 (stable) and 2.1 (canary).

Part-way through (``drift_at`` as a fraction of the simulated span) the
``rms`` feature of ``kws`` drifts on firmware 2.1 devices only: a new audio
front-end gain makes it ~60% louder.

>>> fleet = Fleet(devices=10, seed=1)
>>> sorted({d.model for d in fleet.devices})
['har', 'kws']
>>> rec, pred, lat = fleet.devices[0].record(fleet.rng, drifted=False)
>>> sorted(rec)[:3]
['mic', 'rms', 'snr_db']
>>> import numpy as np
>>> batch = fleet.devices[0].records(np.random.default_rng(0), 5, drifted=False)
>>> len(batch), sorted(batch[0][0]) == sorted(rec)
(5, True)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

DRIFT_MODEL = "kws"
DRIFT_FEATURE = "rms"
DRIFT_SEGMENT = ("firmware", "2.1")


def _exp(x: Any) -> Any:
    import numpy as np

    return np.exp(x)


@dataclass
class Device:
    """One simulated device running one model."""

    device_id: str
    model: str
    version: str
    tags: dict[str, str]
    temp_offset: float = 0.0
    noise_floor: float = 0.0
    activity_bias: float = 0.0

    def drifts(self) -> bool:
        return self.model == DRIFT_MODEL and self.tags.get(DRIFT_SEGMENT[0]) == DRIFT_SEGMENT[1]

    def record(self, rng: random.Random, drifted: bool) -> tuple[dict[str, Any], Any, float]:
        """One inference: (features, prediction, latency ms)."""
        if self.model == "kws":
            return self._kws(rng, drifted and self.drifts())
        return self._har(rng)

    def records(self, gen: Any, count: int,
                drifted: bool) -> list[tuple[dict[str, Any], Any, float]]:
        """``count`` inferences at once, drawn with a numpy Generator (fast path of the demo)."""
        if self.model == "kws":
            gain = 1.6 if drifted and self.drifts() else 1.0
            rms = gen.lognormal(math.log(0.12), 0.45, count) * gain + self.noise_floor
            snr = gen.normal(18.0, 4.0, count)
            score = 1.0 / (1.0 + _exp(-(8.0 * rms + 0.05 * snr - 2.2)))
            cols = {"rms": rms, "zcr": gen.normal(0.09, 0.025, count).clip(0.0, 1.0),
                    "spectral_centroid": gen.normal(1800.0, 260.0, count), "snr_db": snr,
                    "temperature_c": gen.normal(36.0 + self.temp_offset, 2.0, count)}
            cats = {"mic": ["front" if u < 0.7 else "rear" for u in gen.random(count).tolist()]}
            preds = score.tolist()
            latency = gen.lognormal(math.log(4.0), 0.25, count).tolist()
        else:
            walking = gen.random(count) < 0.4 + self.activity_bias
            std = abs(gen.normal(0.0, 0.12, count) + (0.15 + 0.75 * walking))
            cols = {"acc_mean_x": gen.normal(0.0, 0.2, count),
                    "acc_mean_y": gen.normal(0.0, 0.2, count),
                    "acc_mean_z": gen.normal(9.81, 0.15, count), "acc_std": std,
                    "gyro_energy": gen.gamma(2.0, 1.0, count) * (0.1 + 0.5 * walking),
                    "temperature_c": gen.normal(31.0 + self.temp_offset, 1.5, count)}
            cats = {"sensor": ["imu-b" if u < 1 / 3 else "imu-a"
                               for u in gen.random(count).tolist()]}
            sit = gen.random(count) < 0.6
            preds = ["walk" if s > 0.5 else ("sit" if q else "stand")
                     for s, q in zip(std.tolist(), sit.tolist(), strict=True)]
            median = 9.0 if self.version == "2.0" else 7.5
            latency = gen.lognormal(math.log(median), 0.2, count).tolist()
        names = list(cols) + list(cats)
        columns = [cols[n].tolist() for n in cols] + [cats[n] for n in cats]
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        return list(zip(rows, preds, latency, strict=True))

    def _kws(self, rng: random.Random, drifted: bool) -> tuple[dict[str, Any], Any, float]:
        gain = 1.6 if drifted else 1.0
        rms = max(1e-4, rng.lognormvariate(math.log(0.12), 0.45) * gain + self.noise_floor)
        zcr = min(1.0, max(0.0, rng.gauss(0.09, 0.025)))
        centroid = rng.gauss(1800.0, 260.0)
        snr = rng.gauss(18.0, 4.0)
        temp = rng.gauss(36.0 + self.temp_offset, 2.0)
        mic = "front" if rng.random() < 0.7 else "rear"
        score = 1.0 / (1.0 + math.exp(-(8.0 * rms + 0.05 * snr - 2.2)))
        latency = rng.lognormvariate(math.log(4.0), 0.25)
        return ({"rms": rms, "zcr": zcr, "spectral_centroid": centroid, "snr_db": snr,
                 "temperature_c": temp, "mic": mic}, score, latency)

    def _har(self, rng: random.Random) -> tuple[dict[str, Any], Any, float]:
        walking = rng.random() < 0.4 + self.activity_bias
        std = abs(rng.gauss(0.9 if walking else 0.15, 0.12))
        feats = {"acc_mean_x": rng.gauss(0.0, 0.2), "acc_mean_y": rng.gauss(0.0, 0.2),
                 "acc_mean_z": rng.gauss(9.81, 0.15), "acc_std": std,
                 "gyro_energy": rng.gammavariate(2.0, 0.6 if walking else 0.1),
                 "temperature_c": rng.gauss(31.0 + self.temp_offset, 1.5),
                 "sensor": rng.choice(["imu-a", "imu-a", "imu-b"])}
        label = "walk" if std > 0.5 else ("sit" if rng.random() < 0.6 else "stand")
        latency = rng.lognormvariate(math.log(9.0 if self.version == "2.0" else 7.5), 0.2)
        return feats, label, latency


class Fleet:
    """The whole simulated fleet: 60% kws devices, 40% har (a quarter of those on the canary)."""

    def __init__(self, devices: int = 200, seed: int = 7) -> None:
        self.devices_count = devices
        self.seed = seed
        self.rng = random.Random(seed)
        self.devices: list[Device] = []
        n_kws = round(devices * 0.6)
        for i in range(devices):
            if i < n_kws:
                firmware = "2.1" if i % 2 else "2.0"
                dev = Device(f"mic-{i:04d}", "kws", "1.3.0",
                             {"firmware": firmware, "region": "eu" if i % 3 else "us"})
            else:
                canary = (i - n_kws) % 4 == 0
                dev = Device(f"band-{i:04d}", "har", "2.1" if canary else "2.0",
                             {"firmware": "5.4", "region": "eu" if i % 3 else "us"})
            dev.temp_offset = self.rng.gauss(0.0, 0.8)
            dev.noise_floor = abs(self.rng.gauss(0.0, 0.004))
            dev.activity_bias = self.rng.uniform(-0.05, 0.05)
            self.devices.append(dev)

    def reference_rows(self, model: str, rows: int, version: str | None = None
                       ) -> list[dict[str, Any]]:
        """Training-like data for a model (no drift), with the prediction as a column: records
        of the fleet's own devices of that model (and version), as if collected from them
        before the deployment, so the reference mixes the same per-device offsets."""
        devices = [d for d in self.devices
                   if d.model == model and (version is None or d.version == version)]
        rng = random.Random(self.seed + 1000)
        out = []
        for _ in range(rows):
            feats, pred, _ = rng.choice(devices).record(rng, drifted=False)
            out.append({**feats, "prediction": pred})
        return out
