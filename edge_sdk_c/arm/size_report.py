"""`make size`: library flash and static RAM of one target, from two linked images.

flash = (text + data) of the firmware that uses the whole API, minus the empty firmware's,
minus the spec's constant tables (reported apart); ram = (data + bss) likewise, minus the
app's arena (the sketch state) and window buffers (reported apart).

    python size_report.py m4f build/arm/m4f arm-none-eabi-size
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NAMES = {"m0plus": "cortex-m0plus", "m4f": "cortex-m4f"}


def sizes(tool: str, path: Path) -> tuple[int, int, int]:
    out = subprocess.run([tool, str(path)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(x) for x in out.splitlines()[1].split()[:3])
    return text, data, bss


def symbol_sizes(elf: Path, names: tuple[str, ...]) -> int:
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] in names:
            total += int(parts[1], 16)
    return total


def runtime_bytes(sdk: Path, empty: Path) -> int:
    """Bytes of compiler-runtime helpers (libgcc's __aeabi_*, __udivsi3 ...) the SDK pulls in;
    aliases (__aeabi_dadd = __adddf3) share an address and are counted once."""
    def syms(elf: Path) -> dict[int, tuple[str, int]]:
        out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True,
                             text=True, check=True).stdout
        rows = [p for p in (line.split() for line in out.splitlines())
                if len(p) == 4 and p[2] in "tT" and p[3].startswith("__")]
        return {int(p[0], 16): (p[3], int(p[1], 16)) for p in rows}
    base = {name for name, _ in syms(empty).values()}
    return sum(size for name, size in syms(sdk).values() if name not in base)


def main(target: str, build: str, tool: str) -> None:
    d = Path(build)
    t_empty, d_empty, b_empty = sizes(tool, d / "empty.elf")
    t_sdk, d_sdk, b_sdk = sizes(tool, d / "sdk.elf")
    t_spec, d_spec, _ = sizes(tool, d / "spec_tables.o")
    arena = symbol_sizes(d / "sdk.elf", ("arena",))
    buffers = symbol_sizes(d / "sdk.elf", ("body", "env"))
    flash = (t_sdk + d_sdk) - (t_empty + d_empty) - (t_spec + d_spec)
    ram = (d_sdk + b_sdk) - (d_empty + b_empty) - arena - buffers
    name = NAMES[target]
    print(f"{name} flash={flash} ram={ram}")
    print(f"{name} spec_tables_flash={t_spec + d_spec} sketch_state_ram={arena} "
          f"window_buffers_ram={buffers} "
          f"of_flash_compiler_runtime={runtime_bytes(d / 'sdk.elf', d / 'empty.elf')}")


if __name__ == "__main__":
    main(*sys.argv[1:])
