"""The child of fuzz/sinkfast.py: loads the instrumented ``_sinkfast`` module and feeds it
mutated inputs until the time is up (run with the sanitizer runtimes preloaded).

Usage: ``python -m sinkfast_driver MODULE_PATH SECONDS SEED``.
"""

from __future__ import annotations

import copy
import ctypes
import importlib.machinery
import importlib.util
import random
import sys
import time
from array import array
from typing import Any

import msgpack

from collector.fake_windows import make_window_body
from collector.records import IngestRecord
from edge_sdk.layout import MAX_SLOTS
from edge_sdk.numeric import pack_counts
from edge_sdk.wire import BUILTIN_SLOTS, DEFAULT_LIMITS

PACKED_NAMES = ("__prediction__", "__latency__", "__energy__")
ODD: list[Any] = [None, True, -1, 0, 1, 255, 256, 2**31 - 1, 2**31, 2**32, 2**40, 2**53 + 1,
                  2**63 - 1, 2**63, 2**64 - 1, 2**64, -2**63, 1.5, -0.0, 1e308,
                  float("nan"), float("inf"), "", "x", "é" * 40, "y" * 300, b"", b"\x01",
                  b"\x02\x01", b"\x03\x01\x02\x03", b"\x04\xff\xff\xff\xff",
                  b"\x01" + b"\x00" * (MAX_SLOTS + 1), bytes(8) + b"\x00\x00\xc0\x7f" * 2,
                  pack_counts([1, 2, 3]), [], [0], {}, {"a": 1}, {"": -1}, [["a", "b", -1]],
                  "__latency__", "lat1", "p1"]


def exact(data: bytes) -> Any:
    """``data`` in a buffer of exactly its size from malloc (PYTHONMALLOC=malloc): a read
    one byte past its end is an ASan heap-buffer-overflow (a ``bytes`` object has a spare
    NUL byte, and pymalloc's arenas are not instrumented)."""
    if len(data) <= 16:           # (ctypes keeps small arrays inside its object)
        return data
    return memoryview((ctypes.c_ubyte * len(data)).from_buffer_copy(data)).cast("B")


def load(path: str) -> Any:
    loader = importlib.machinery.ExtensionFileLoader("_sinkfast", path)
    spec = importlib.util.spec_from_loader("_sinkfast", loader, origin=path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def seeds() -> list[bytes]:
    out = []
    for i, version in enumerate((1, 2, 2, 1, 2)):
        out.append(make_window_body(f"dev-{i}", i, records=5 + 60 * i, seed=i,
                                    window_index=i % 2, version=version))
    w = msgpack.unpackb(out[2])
    w["lb"] = [2, 5, 0, 1, [["a", "a", 3], ["a", "b", 1]]]
    out.append(msgpack.packb(w, use_bin_type=True))
    return out


def mutate_bytes(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            buf = bytearray(rng.choice(pool))
        op = rng.randrange(7)
        i = rng.randrange(len(buf))
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.choice((0x00, 0x7f, 0x80, 0xc0, 0xc4, 0xcc, 0xcd, 0xce, 0xcf, 0xd0,
                                 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff,
                                 rng.randrange(256)))
        elif op == 2:
            del buf[i:i + rng.randint(1, 16)]
        elif op == 3:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 4:
            j = rng.randrange(len(buf))
            buf[i:i] = buf[j:j + rng.randint(1, 64)]
        elif op == 5:
            del buf[rng.randrange(len(buf)):]
        else:
            other = rng.choice(pool)
            buf = buf[:i] + other[rng.randrange(len(other)):]
    return bytes(buf)


def mutate_entries(rng: random.Random, entries: list) -> list:
    entries = copy.deepcopy(entries)
    for _ in range(rng.randint(1, 3)):
        if not entries:
            break
        e = rng.choice(entries)
        if isinstance(e, list) and e:
            j = rng.randrange(len(e))
            op = rng.randrange(4)
            if op == 0:
                e[j] = copy.deepcopy(rng.choice(ODD))
            elif op == 1:
                del e[j]
            elif op == 2:
                e.append(copy.deepcopy(rng.choice(ODD)))
            elif isinstance(e[j], int) and not isinstance(e[j], bool):
                e[j] = e[j] + rng.choice((-1, 1, 2**31, 2**40))
        else:
            entries.append(copy.deepcopy(rng.choice(ODD)))
    return entries


def strings(rng: random.Random, n: int) -> tuple[array, bytes]:
    """``n`` random short strings as Arrow-style int32 offsets and data."""
    words = [rng.choice(["", "a", "fw", "feature_01", "é", "0123456789abcdefg"])
             for _ in range(n)]
    offsets, data = array("i", [0]), b""
    for w in words:
        data += w.encode()
        offsets.append(len(data))
    return offsets, data


def mutate_ints(rng: random.Random, values: array) -> array:
    """Offsets or groups, now and then broken: out of range, negative, or one short."""
    out = array(values.typecode, values)
    for _ in range(rng.randrange(3)):
        if out and rng.random() < 0.5:
            out[rng.randrange(len(out))] = rng.choice([-1, 0, 1, 7, 2**31 - 1, -2**31])
        elif out and rng.random() < 0.3:
            out.pop()
        else:
            out.append(rng.choice([0, 3, 2**31 - 1]))
    return out


def pieces(rng: random.Random, code: str, n: int, cut: int) -> list[array]:
    """A column of ``n`` values (mostly zeros: the sums skip zero blocks) in two pieces,
    now and then one value short or with a broken one."""
    whole = array(code, [rng.choice([0, 0, 1, -5, 3]) for _ in range(n)])
    if rng.random() < 0.2:
        whole = mutate_ints(rng, whole) if code != "d" else whole[:-1]
    return [whole[:cut], whole[cut:]]


def sums(native: Any, rng: random.Random) -> None:
    """The sketch sums' entry points on random, sometimes broken, buffers: either an error
    (ValueError, TypeError) or a result, never a crash."""
    n = rng.randrange(40)
    lead = array("q", [rng.randrange(-3, 4) for _ in range(n)])
    texts = []
    for _ in range(rng.randrange(3)):
        lists = None
        if rng.random() < 0.4:                     # a map's keys or values: lists a row
            lists = array("i", [0])
            for _ in range(n):
                lists.append(lists[-1] + rng.randrange(3))
            offsets, data = strings(rng, lists[-1])
        else:
            offsets, data = strings(rng, n)
        nulls = bytes(rng.randrange(2) for _ in range(n)) if rng.random() < 0.3 else None
        if rng.random() < 0.3:
            offsets = mutate_ints(rng, offsets)
        if lists is not None and rng.random() < 0.3:
            lists = mutate_ints(rng, lists)
        if nulls is not None and rng.random() < 0.1:
            nulls = nulls[:-1]
        texts.append((offsets, data, nulls) if lists is None else (offsets, data, nulls, lists))
    try:
        native.group_rows(lead, texts)
    except (ValueError, TypeError):
        pass
    groups = mutate_ints(rng, array("q", [rng.randrange(5) for _ in range(n)])) \
        if rng.random() < 0.3 else array("q", [rng.randrange(5) for _ in range(n)])
    columns = []
    for _ in range(rng.randrange(4)):
        op = rng.choice([0, 1, 2, 3, 4, 5, 6, 6, -1, 7])
        cut = rng.randrange(n + 1)
        x = pieces(rng, "i" if op == 0 else "d" if op in (2, 3, 4, 5, 6) else "q", n, cut)
        values: Any = x if op < 5 else (x, pieces(rng, "q", n, cut),
                                        pieces(rng, "d", n, cut))[:2 if op == 5 else 3]
        columns.append((op, values, bytearray(8 * rng.choice([0, 1, 5, 6]))))
    try:
        native.group_add(groups, columns)
    except (ValueError, TypeError):
        pass


def run(native: Any, seconds: float, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    pool = seeds()
    records = [IngestRecord(f"dev-{i}", w, 1_764_000_000_000, 1_764_000_000).kafka_value()
               for i, w in enumerate(pool)]
    decoded = [msgpack.unpackb(w) for w in pool]
    name_len = DEFAULT_LIMITS.max_name_len
    stats = {"inputs": 0, "split": 0, "columns": 0, "sums": 0}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(200):
            stats["inputs"] += 1
            kind = rng.randrange(4)
            if kind == 3:
                stats["sums"] += 1
                sums(native, rng)
                continue
            if kind == 0:
                native.parse_record(exact(mutate_bytes(rng, rng.choice(records), records)),
                                    DEFAULT_LIMITS.max_bin_len)
                continue
            if kind == 1:
                data = mutate_bytes(rng, rng.choice(pool), pool)
                parts = native.split_numeric(exact(data), name_len, BUILTIN_SLOTS, PACKED_NAMES)
                if parts is None:
                    continue
                stats["split"] += 1
                _, rows, _, _, _, cats, _, labels, _ = parts
                # (packed rows must be bytes objects: from malloc too, with one spare byte)
                for check in (True, False):
                    native.numeric_columns([rows], check, name_len, BUILTIN_SLOTS)
                    native.categorical_columns([cats], check, name_len)
                    if labels is not None:
                        native.label_columns([labels], check, DEFAULT_LIMITS.max_str_len)
                continue
            w = rng.choice(decoded)
            feats = w["f"]
            nums = mutate_entries(rng, [e for e in feats if len(e) in (14, 15)])
            cats = mutate_entries(rng, [e for e in feats if len(e) == 8])
            sets = mutate_entries(rng, [[2, 5, 0, 1, [["a", "a", 3], ["a", "b", 1]]]])
            stats["columns"] += 1
            # (check=False trusts its input by contract: only proven rows reach it)
            native.numeric_columns(nums, True, name_len, BUILTIN_SLOTS)
            native.categorical_columns(cats, True, name_len)
            native.label_columns(sets, True, DEFAULT_LIMITS.max_str_len)
    return stats


def main() -> int:
    path, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    try:
        ctypes.CDLL(None).__asan_init  # noqa: B018 - the runtime must be in this process
    except AttributeError:
        print("sinkfast_driver: AddressSanitizer is not loaded in this process", file=sys.stderr)
        return 3
    native = load(path)
    stats = run(native, seconds, seed)
    print("sanitizers: address,undefined; " + ", ".join(f"{k} {v}" for k, v in stats.items()),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
