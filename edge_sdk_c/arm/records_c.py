"""The SDK benchmark's records as C tables (for the firmware) and as replay commands (for
the host build), so `make qemu` can compare the emulated board's window with the host's.

    python records_c.py SPEC.json N SEED OUT.c OUT.replay
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.bench_sdk import make_records  # noqa: E402
from edge_sdk.spec import Spec  # noqa: E402


def c_value(v: object) -> str:
    if v is None:
        return "{EDC_T_MISSING, {.i = 0}}"
    if isinstance(v, bool):
        return f"{{EDC_T_BOOL, {{.b = {int(v)}}}}}"
    if isinstance(v, float):
        return f"{{EDC_T_F64, {{.f = {v.hex()}}}}}"
    if isinstance(v, int):
        return f"{{EDC_T_I64, {{.i = {v}LL}}}}"
    text = "".join(c if c.isalnum() or c in "._-" else f"\\{ord(c):03o}" for c in str(v))
    return f'{{EDC_T_STR, {{.s = "{text}"}}}}'


def token(v: object) -> str:
    if v is None:
        return "m"
    if isinstance(v, float):
        return "f" + struct.pack(">d", v).hex()
    if isinstance(v, int):
        return f"i{v}"
    return "s" + str(v).encode().hex()


def main(spec_path: str, n: str, seed: str, out_c: str, out_replay: str) -> None:
    names = list(Spec.load(spec_path).features)
    recs = make_records(int(n), int(seed))
    rows = [",\n    ".join("{" + ", ".join(c_value(r.features.get(k)) for k in names) + "}"
                           for r in recs)]
    Path(out_c).write_text(
        '#include "edgedrift.h"\n'
        f"const unsigned edc_bench_n = {len(recs)};\n"
        f"const edc_value edc_bench_values[][{len(names)}] = {{\n    {rows[0]}}};\n"
        "const edc_value edc_bench_pred[] = {" + ", ".join(c_value(r.prediction) for r in recs)
        + "};\nconst edc_value edc_bench_lat[] = {"
        + ", ".join(c_value(r.latency_ms) for r in recs) + "};\n")
    lines = ["I 1700000000000"]
    lines += [f"R {token(r.prediction)} {token(r.latency_ms)} m "
              + " ".join(token(r.features.get(k)) for k in names) for r in recs]
    lines.append("S 1700000060000 7")
    Path(out_replay).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
