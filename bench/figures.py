"""The one result type every benchmark returns.

>>> f = Figure("log() median", "<= 10 us", 3.2, "us", peer=736.0, peer_name="whylogs")
>>> f.row()
'| log() median | <= 10 us | 3.2 us | 736 us (whylogs) | 230x |'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    """One measured figure: what, the target, the measurement, and a peer's figure if any.

    ``lower_is_better`` decides the ratio's direction (peer/measured or measured/peer),
    so a ratio > 1 always means edgedrift is better.
    """

    name: str
    target: str
    measured: float
    unit: str
    peer: float | None = None
    peer_name: str = ""
    lower_is_better: bool = True
    note: str = ""

    def ratio(self) -> float | None:
        if self.peer is None or not self.measured or not self.peer:
            return None
        return self.peer / self.measured if self.lower_is_better else self.measured / self.peer

    def row(self) -> str:
        ratio = self.ratio()
        peer = f"{_fmt(self.peer)} {self.unit} ({self.peer_name})" if self.peer is not None else ""
        ratio_s = f"{ratio:.0f}x" if ratio is not None and ratio >= 10 else (
            f"{ratio:.1f}x" if ratio is not None else "")
        note = f" {self.note}" if self.note else ""
        measured = f"{_fmt(self.measured)} {self.unit}{note}"
        return f"| {self.name} | {self.target} | {measured} | {peer} | {ratio_s} |"


HEADER = "| figure | target | measured | peer | ratio |\n|---|---|---|---|---|"


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"
