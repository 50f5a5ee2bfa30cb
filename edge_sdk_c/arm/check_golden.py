"""`make qemu`: the emulated board's window against the host build's for the same records
(byte for byte) and against edge_sdk.wire's decoder; prints the instruction count line.

    python check_golden.py QEMU_OUTPUT HOST_OUTPUT BOARD
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge_sdk.wire import decode_window


def window(path: str) -> bytes:
    for line in Path(path).read_text().splitlines():
        if line.startswith("W "):
            return bytes.fromhex(line[2:].strip())
    raise SystemExit(f"{path}: no window line (W ...) in the output")


def main(qemu_out: str, host_out: str, board: str) -> None:
    board_body, host_body = window(qemu_out), window(host_out)
    body = decode_window(board_body)
    same = board_body == host_body
    lines = Path(qemu_out).read_text().splitlines()
    count = [line for line in lines if "instructions_per_log=" in line]
    print(count[0] if count else f"{board}: no instruction count in the output")
    print(f"  golden window on {board}: {len(board_body)} bytes, {body['n']} records, "
          f"{'byte-identical to' if same else 'DIFFERENT from'} the host build "
          "(instructions counted by QEMU -icount via SysTick, not cycles)")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
