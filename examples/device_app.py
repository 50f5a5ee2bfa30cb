"""A runnable example device app: a keyword-spotting model on a microphone, monitored by edgedrift.

Start a collector and create a key, then run this app against it:

    edgedrift gateway --data-dir /tmp/ed --port 8080 &
    KEY=$(edgedrift keys add dev-1 --data-dir /tmp/ed | tail -1)
    python examples/device_app.py --key "$KEY" --endpoint http://127.0.0.1:8080/v1/telemetry

It logs a simulated inference every few milliseconds for --seconds seconds,
with 10 s windows, and prints what the SDK spooled and delivered.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time

from edge_sdk import Monitor


def fake_audio_features(t: float, rng: random.Random) -> dict[str, object]:
    rms = abs(rng.gauss(0.2 + 0.05 * math.sin(t), 0.05))
    return {
        "rms": rms,
        "zcr": abs(rng.gauss(0.08, 0.02)),
        "spectral_centroid": rng.gauss(1800.0, 250.0),
        "snr_db": rng.gauss(18.0, 4.0),
        "mic": rng.choice(["front", "front", "rear"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:8080/v1/telemetry")
    parser.add_argument("--key", required=True, help="device key from `edgedrift keys add`")
    parser.add_argument("--device-id", default="dev-1")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--spool-dir", default=tempfile.mkdtemp(prefix="edgedrift-spool-"))
    args = parser.parse_args()

    rng = random.Random(42)
    with Monitor(model="kws", version="1.3.0", device_id=args.device_id,
                 endpoint=args.endpoint, key=args.key, window_s=10,
                 spool_dir=args.spool_dir, tags={"firmware": "2.1.0"}) as mon:
        start = time.monotonic()
        count = 0
        while time.monotonic() - start < args.seconds:
            feats = fake_audio_features(time.monotonic(), rng)
            score = 1 / (1 + math.exp(-(feats["rms"] * 10 - 2)))  # type: ignore[operator]
            pid = mon.log(feats, prediction=score, latency_ms=rng.uniform(2.0, 6.0))
            if rng.random() < 0.1:
                mon.label(pid, int(rng.random() < score))
            count += 1
            time.sleep(0.005)
        delivered = mon.flush(timeout_s=10)
        status = mon.status()
    print(f"logged {count} inferences; spool {'drained' if delivered else 'not drained'} "
          f"({status['backlog_windows']} window(s) waiting in {args.spool_dir})")
    if not delivered and status["last_error"]:
        print(f"the collector's last answer: {status['last_error']}")


if __name__ == "__main__":
    main()
