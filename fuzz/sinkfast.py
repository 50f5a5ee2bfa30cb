"""Fuzz the sink's C fast path (collector/_sinkfast*.c) under AddressSanitizer and UBSan.

Builds ``_sinkfast.c`` and ``_sinkfast_sums.c`` into a throw-away extension with
``-fsanitize=address,undefined`` (``-fno-sanitize-recover``: any undefined behaviour
aborts), then runs a child Python with
the sanitizer runtimes preloaded that feeds every entry point of the module for a while:

* ``parse_record`` and ``split_numeric`` on msgpack bytes: real ingest records and window
  bodies (wire v1 and v2, ``collector.fake_windows``) mutated byte-wise (bit flips, byte
  changes, inserted/deleted/duplicated runs, truncation, splices of two inputs);
* ``numeric_columns`` / ``categorical_columns`` / ``label_columns`` on the packed rows
  ``split_numeric`` returns and on decoded entries mutated item-wise (wrong types,
  boundary integers, odd bytes, huge and negative counts);
* ``group_rows`` and ``group_add`` (the sketch sums) on random buffers, now and then broken
  (offsets out of range or one short, negative groups, short cells, mismatched pieces).

Crashes, out-of-bounds reads or writes and undefined behaviour abort the child with the
sanitizer's report (exit status != 0). No clang/libFuzzer needed: a standalone driver
(gcc or clang). Anyone can run it::

    python fuzz/sinkfast.py --seconds 60            # or: make -C fuzz sinkfast SECONDS=60

``--seed`` makes a run repeatable. tests/collector/test_sinkfast_fuzz.py runs it for a
few seconds in the suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "collector" / "_sinkfast.c", ROOT / "collector" / "_sinkfast_sums.c"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer", "-g", "-O1"]


class NoCompiler(RuntimeError):
    """No C compiler with the sanitizer runtimes here."""


def compiler() -> str:
    for name in (os.environ.get("CC"), "clang", "gcc", "cc"):
        if name and shutil.which(name):
            return name
    raise NoCompiler("no C compiler (clang, gcc or cc) on PATH")


def runtimes(cc: str) -> list[str]:
    """The shared sanitizer runtimes to preload into an uninstrumented python."""
    found = []
    for lib in ("libasan.so", "libubsan.so"):
        path = subprocess.run([cc, f"-print-file-name={lib}"], capture_output=True,
                              text=True, check=False).stdout.strip()
        if not path or not os.path.isabs(path) or not os.path.exists(path):
            if cc.endswith("clang"):     # clang links its runtimes statically: nothing to load
                return []
            raise NoCompiler(f"{cc} has no {lib} (install the compiler's sanitizer runtime)")
        found.append(path)
    return found


def build(out_dir: Path) -> tuple[Path, list[str]]:
    """Build the instrumented module into ``out_dir``; returns (its path, runtimes)."""
    cc = compiler()
    libs = runtimes(cc)
    target = out_dir / ("_sinkfast" + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = [cc, "-shared", "-fPIC", *SANITIZE, f"-I{sysconfig.get_paths()['include']}",
           *map(str, SOURCES), "-o", str(target)]
    if cc.endswith("clang"):
        cmd.insert(1, "-shared-libsan")
        libs = [subprocess.run([cc, "-print-file-name=libclang_rt.asan-x86_64.so"],
                               capture_output=True, text=True).stdout.strip()]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise NoCompiler(f"building the instrumented module failed:\n{done.stderr}")
    return target, libs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz")
    parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable runs)")
    parser.add_argument("--build-dir", default=None, help="where to build (default: a temp dir)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    with tempfile.TemporaryDirectory(prefix="sinkfast-fuzz-") as tmp:
        out = Path(args.build_dir or tmp)
        out.mkdir(parents=True, exist_ok=True)
        try:
            module, libs = build(out)
        except NoCompiler as exc:
            print(f"fuzz/sinkfast.py: {exc}", file=sys.stderr)
            return 77                   # "skipped", as automake's test drivers say
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "fuzz")]),
               "PYTHONMALLOC": "malloc",     # Python's allocations through ASan's malloc
               "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:allocator_may_return_null=1",
               "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}
        if libs:
            env["LD_PRELOAD"] = " ".join(libs)
        names = ", ".join(str(p.relative_to(ROOT)) for p in SOURCES)
        print(f"fuzzing {names} under ASan+UBSan for {args.seconds:g} s (seed {seed})",
              flush=True)
        done = subprocess.run([sys.executable, "-m", "sinkfast_driver", str(module),
                               str(args.seconds), str(seed)], env=env, cwd=str(ROOT))
        if done.returncode:
            print(f"FAILED: the driver exited with {done.returncode} (seed {seed}); "
                  "the sanitizer report is above", file=sys.stderr)
        return done.returncode


if __name__ == "__main__":
    sys.exit(main())
