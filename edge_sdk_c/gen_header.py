"""Spec file -> C header for the edgedrift C SDK (edge_sdk_c/), so devices carry no JSON parser.

The header holds constant tables (edge order keys, slot -> region groups, known categories
with their FNV-1a hashes, feature indices) and three compile-time constants:
``EDC_SPEC_FEATURES``, ``EDC_SPEC_ARENA_BYTES`` (the arena ``edc_init`` needs) and
``EDC_SPEC_MAX_WINDOW_BYTES`` (the worst-case encoded window, for device id, model and
version of at most ``--max-id-len`` bytes and no tags)::

    python edge_sdk_c/gen_header.py model.spec.json -o edgedrift_spec.h
    python edge_sdk_c/gen_header.py --builtins -o edge_sdk_c/src/edc_layouts.c

>>> from edge_sdk.layout import LATENCY
>>> keys, groups = layout_tables(LATENCY)
>>> len(keys), len(groups), groups[0], groups[-1], max(groups)
(48, 49, 0, 9, 9)
>>> order_key(-0.0) == order_key(0.0) == 0, order_key(-1.0) < order_key(0.0) < order_key(1e-300)
(True, True)
"""

from __future__ import annotations

import argparse
import math
import re
import struct
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_sdk.layout import BUILTIN_LAYOUTS, Layout, regions  # noqa: E402
from edge_sdk.spec import FeatureSpec, Spec  # noqa: E402

INT64_MAX = 2**63 - 1
SDK_NAME = "edgedrift-c/0.1.0"      # EDC_SDK_NAME
KEY_BYTES = 64                      # EDC_KEY_BYTES
DEFAULT_CAPACITY = 32               # edge_sdk.categorical.DEFAULT_CAPACITY
BUILTIN_NAMES = {"u1": "edc_layout_u1", "lat1": "edc_layout_lat1", "en1": "edc_layout_en1",
                 "p1": "edc_layout_p1"}


def order_key(x: float) -> int:
    """The int64 that orders as the double does (edc_key_of in C; -0.0 is +0.0)."""
    k = struct.unpack("<q", struct.pack("<d", x))[0]
    if k in (0, -(2**63)):
        return 0
    return k ^ (INT64_MAX if k < 0 else 0)


def fnv1a(data: bytes) -> int:
    """FNV-1a 32 (edc_fnv1a).

    >>> hex(fnv1a(b"front"))
    '0xe179dbd8'
    """
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def layout_tables(layout: Layout) -> tuple[list[int], list[int]]:
    """(edge order keys, slot -> group): group 0 below the first edge, 1..R the regions of
    edge_sdk.layout.regions, R + 1 at or above the last edge."""
    slots = layout.slots
    groups = [0] * slots
    regs = regions(slots)
    for r, (first, last) in enumerate(regs, 1):
        for s in range(first, last + 1):
            groups[s] = r
    groups[-1] = len(regs) + 1
    return [order_key(e) for e in layout.edges], groups


FX_NONE = -(2**15)


def fixed_point(x: float, shift: int) -> int:
    """round(x 2^shift), half away from zero: the C library's fixed_point, bit for bit.

    >>> fixed_point(1.5, 1), fixed_point(-0.75, 1), fixed_point(0.25, 1)
    (3, -2, 1)
    """
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    e, m = (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1)
    if e:
        m |= 1 << 52
    else:
        e = 1
    sh = e - 1075 + shift
    if sh >= 0:
        value = m << sh
    elif sh > -63:
        value = (m + (1 << (-sh - 1))) >> -sh
    else:
        value = 0
    return -value if bits >> 63 else value


def fixed_tables(layout: Layout) -> tuple[list[int], list[int]]:
    """Per group (shift S, round(ref 2^S)): an inner region's values are summed as integers
    ``round(x 2^S) - ref`` below 2^30 (S from the region's width); the tails (unbounded) and
    regions too far from zero for 62 bits are summed in doubles (FX_NONE)."""
    edges = layout.edges
    shifts, refs = [FX_NONE], [0]
    for first, last in regions(layout.slots):
        lo, hi = edges[first - 1], edges[last]
        k = math.frexp(hi - lo)[1]             # width < 2^k
        shift = 30 - k
        if abs(shift) > 1000 or max(abs(lo), abs(hi)) * 2.0 ** shift >= 2.0 ** 61:
            shifts.append(FX_NONE)
            refs.append(0)
        else:
            shifts.append(shift)
            refs.append(fixed_point(lo, shift))
    return shifts + [FX_NONE], refs + [0]


def c_str(s: str) -> str:
    """A C string literal of ``s``'s UTF-8 bytes (octal escapes for anything unusual)."""
    out = []
    for b in s.encode():
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _layout_c(name: str, layout: Layout, static: bool) -> str:
    keys, groups = layout_tables(layout)
    refs = [0] + [first - 1 for first, _ in regions(layout.slots)] + [len(keys) - 1]
    shifts, fx_refs = fixed_tables(layout)
    st = "static " if static else ""
    padded = keys + [INT64_MAX] * (63 - len(keys))   # the C search takes six fixed steps
    key_rows = ",\n    ".join(", ".join(f"{k}LL" if k > -(2**63) else "INT64_MIN"
                                        for k in padded[i:i + 4]) for i in range(0, 63, 4))
    return (f"static const int64_t {name}_keys[63] = {{\n    {key_rows}}};\n"
            f"static const uint8_t {name}_groups[{len(groups)}] = {{"
            + ", ".join(map(str, groups)) + "};\n"
            f"static const uint8_t {name}_refs[{len(refs)}] = {{"
            + ", ".join(map(str, refs)) + "};\n"
            f"static const int16_t {name}_fx_shift[{len(shifts)}] = {{"
            + ", ".join("EDC_FX_NONE" if v == FX_NONE else str(v) for v in shifts) + "};\n"
            f"static const int64_t {name}_fx_ref[{len(fx_refs)}] = {{"
            + ", ".join(f"{v}LL" for v in fx_refs) + "};\n"
            f"{st}const edc_layout {name} = {{{c_str(layout.layout_id)}, {name}_keys, "
            f"{name}_groups, {name}_refs, {name}_fx_shift, {name}_fx_ref, {len(keys)}, "
            f"{len(regions(layout.slots))}}};\n")


def builtins_c() -> str:
    """src/edc_layouts.c: the built-in layouts' tables, exactly edge_sdk.layout's edges."""
    parts = ["/* Generated by gen_header.py --builtins from edge_sdk.layout: do not edit. */\n"
             '#include "edgedrift.h"\n']
    for lid, cname in BUILTIN_NAMES.items():
        parts.append(_layout_c(cname, BUILTIN_LAYOUTS[lid], static=False))
    return "\n".join(parts)


def _ident(name: str, taken: set[str]) -> str:
    base = "EDC_F_" + (re.sub(r"[^A-Za-z0-9]", "_", name).upper() or "X")
    ident, i = base, 2
    while ident in taken:
        ident, i = f"{base}_{i}", i + 1
    taken.add(ident)
    return ident


def str_bound(n: int) -> int:
    return n + (1 if n < 32 else 2 if n < 256 else 3)


def num_bound(layout: Layout) -> int:
    return (1 + 1 + str_bound(len(layout.layout_id)) + 4 * 5 + 4 * 9 + 3 + 1 + 4 * layout.slots
            + 2 * 5 + 2 + len(regions(layout.slots)) + 8)


def cat_bound(known: tuple[str, ...], capacity: int) -> int:
    total = 1 + 1 + 5 * 5 + 3 + sum(str_bound(len(k.encode())) + 5 for k in known)
    return total + (capacity - len(known)) * (str_bound(KEY_BYTES) + 5)


def capacity_of(fs: FeatureSpec | None, capacity: int) -> int:
    return max(capacity, len(fs.categories)) if fs is not None else capacity


def max_window_bytes(spec: Spec, capacity: int = DEFAULT_CAPACITY, id_len: int = 64,
                     model_hash_len: int = 0) -> int:
    """Worst-case body bytes: edc_max_window_bytes for d, m, mv of ``id_len`` bytes."""
    total = 1 + 18 * 4 + 1 + 3 * 9 + 5 + str_bound(len(SDK_NAME)) + 3 * str_bound(id_len) + 3
    if model_hash_len:
        total += str_bound(model_hash_len)
    total += str_bound(len(spec.spec_id)) + 3
    for name, fs in spec.features.items():
        total += 1 + str_bound(len(name.encode()))
        total += num_bound(fs.layout or BUILTIN_LAYOUTS["u1"]) if fs.type == "numeric" \
            else cat_bound(fs.categories, capacity_of(fs, capacity))
    p = spec.prediction
    pr_num = num_bound(p.layout if p is not None and p.type == "numeric" and p.layout
                       else BUILTIN_LAYOUTS["u1"])
    pr_cat = 0 if p is not None and p.type == "numeric" else cat_bound(
        p.categories if p is not None else (), capacity_of(p, capacity))
    total += num_bound(BUILTIN_LAYOUTS["lat1"]) + max(pr_num, pr_cat) \
        + num_bound(BUILTIN_LAYOUTS["en1"])
    return total + 1 + 3 * 8 + 1 + 7 * 12


def spec_header(spec: Spec, capacity: int = DEFAULT_CAPACITY, id_len: int = 64,
                guard: str = "EDGEDRIFT_SPEC_H") -> str:
    """The header for one spec (include it in one C file; it defines EDC_SPEC)."""
    out = [f"/* Generated by edge_sdk_c/gen_header.py from spec {spec.spec_id} "
           f"(model {spec.model!r} {spec.version!r}): do not edit. */",
           f"#ifndef {guard}", f"#define {guard}", '#include "edgedrift.h"', ""]
    layouts: dict[str, str] = {}
    arena: list[str] = [f"EDC_ALIGN8(2u * {len(spec.features)}u)"]
    idents: set[str] = set()
    enum: list[str] = []

    def layout_ref(layout: Layout) -> str:
        if layout.layout_id in BUILTIN_NAMES:
            return "&" + BUILTIN_NAMES[layout.layout_id]
        if layout.layout_id not in layouts:
            cname = f"edc_spec_layout_{len(layouts)}"
            layouts[layout.layout_id] = cname
            out.append(_layout_c(cname, layout, static=True))
        return "&" + layouts[layout.layout_id]

    def feature_c(i: int, name: str, fs: FeatureSpec) -> str:
        if fs.type == "numeric":
            layout = fs.layout or BUILTIN_LAYOUTS["u1"]
            ref = layout_ref(layout)
            lo, hi = fs.valid_range or (0.0, 0.0)
            return (f"{{{c_str(name)}, EDC_NUMERIC, {int(fs.valid_range is not None)}, 0, 0, "
                    f"{ref}, {order_key(lo)}LL, {order_key(hi)}LL, NULL, NULL}}")
        cats = fs.categories
        if cats:
            out.append(f"static const char *const edc_spec_cats_{i}[{len(cats)}] = {{"
                       + ", ".join(map(c_str, cats)) + "};")
            out.append(f"static const uint32_t edc_spec_hash_{i}[{len(cats)}] = {{"
                       + ", ".join(f"{fnv1a(c.encode())}u" for c in cats) + "};")
            known = f"edc_spec_cats_{i}, edc_spec_hash_{i}"
        else:
            known = "NULL, NULL"
        return (f"{{{c_str(name)}, EDC_CATEGORICAL, 0, {len(cats)}, "
                f"{capacity_of(fs, capacity)}, NULL, 0, 0, {known}}}")

    rows = []
    for i, (name, fs) in enumerate(spec.features.items()):
        rows.append(feature_c(i, name, fs))
        enum.append(f"    {_ident(name, idents)} = {i},")
        if fs.type == "numeric":
            layout = fs.layout or BUILTIN_LAYOUTS["u1"]
            arena.append(f"EDC_NUM_BYTES({layout.slots}u, {len(regions(layout.slots))}u)")
        else:
            arena.append(f"EDC_CAT_BYTES({capacity_of(fs, capacity)}u, {len(fs.categories)}u)")
    pred = "NULL"
    if spec.prediction is not None:
        out.append("static const edc_feature_spec edc_spec_prediction = "
                   + feature_c(len(spec.features), "prediction", spec.prediction) + ";")
        pred = "&edc_spec_prediction"
    p = spec.prediction
    pred_cap = capacity_of(p, capacity) if p is not None and p.type == "categorical" else \
        0 if p is not None else capacity     # a numeric spec prediction needs no categories
    arena.append(f"EDC_BASE_ARENA_BYTES({pred_cap}u)")
    out.append(f"static const edc_feature_spec edc_spec_features[{len(rows)}] = {{\n    "
               + ",\n    ".join(rows) + "};")
    out.append(f"static const edc_spec EDC_SPEC = {{{c_str(spec.spec_id)}, {len(rows)}, "
               f"edc_spec_features, {pred}}};")
    out += ["", "enum {", *enum, "};",
            f"#define EDC_SPEC_FEATURES {len(rows)}",
            f"#define EDC_SPEC_ID {c_str(spec.spec_id)}",
            f"#define EDC_SPEC_CATEGORY_CAPACITY {capacity}",
            f"#define EDC_SPEC_MAX_ID_LEN {id_len}",
            "/* arena bytes edc_init needs (= edc_arena_bytes(&EDC_SPEC, capacity)) */",
            "#define EDC_SPEC_ARENA_BYTES (" + " \\\n    + ".join(arena) + ")",
            "/* worst-case window body bytes for d, m, mv <= EDC_SPEC_MAX_ID_LEN bytes, no model",
            "   hash, no tags (= edc_max_window_bytes for such a config) */",
            f"#define EDC_SPEC_MAX_WINDOW_BYTES {max_window_bytes(spec, capacity, id_len)}u",
            f"#endif /* {guard} */", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", nargs="?", help="spec JSON (edgedrift reference build)")
    ap.add_argument("-o", "--output", required=True, help="header to write")
    ap.add_argument("--category-capacity", type=int, default=DEFAULT_CAPACITY,
                    help="categories tracked per feature (edge_sdk's default: 32)")
    ap.add_argument("--max-id-len", type=int, default=64,
                    help="device id, model and version bytes the size bound allows")
    ap.add_argument("--builtins", action="store_true",
                    help="write the built-in layouts' C file instead of a spec header")
    args = ap.parse_args(argv)
    if args.builtins:
        text = builtins_c()
    elif not args.spec:
        ap.error("give a spec file (or --builtins)")
    else:
        if not 1 <= args.category_capacity <= 1024:
            ap.error(f"--category-capacity: expected 1..1024, got {args.category_capacity}")
        text = spec_header(Spec.load(args.spec), args.category_capacity, args.max_id_len)
    Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
