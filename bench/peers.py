"""A separate virtualenv for peer tools (whylogs) that benchmarks compare against.

The peers live in ``bench/.peers/venv`` (git-ignored), never in the project's
own environment: whylogs 1.6.4 needs ``numpy<2`` while the project runs numpy 2.
The venv is created on first use and reused while its stamp matches
:data:`PACKAGES`. Peer scripts run inside it via :func:`run_peer` and print
one JSON object on stdout.

>>> PEERS.venv.name, PEERS.packages[0]
('venv', 'whylogs==1.6.4')
>>> PEERS.python().name.startswith("python")
True
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PACKAGES = ("whylogs==1.6.4", "numpy<2", "pandas<3")


class PeerError(RuntimeError):
    """The peer venv could not be created or a peer script failed (message says which)."""


@dataclass(frozen=True)
class PeerEnv:
    """Where the peer venv lives and what goes in it.

    >>> PeerEnv(Path("/tmp/x")).stamp.name
    'installed.txt'
    """

    root: Path
    packages: tuple[str, ...] = PACKAGES
    install_timeout_s: float = 900.0

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def stamp(self) -> Path:
        return self.root / "installed.txt"

    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def ready(self) -> bool:
        """True when the venv exists and was installed with exactly :attr:`packages`."""
        try:
            return self.python().exists() and self.stamp.read_text() == self._stamp_text()
        except OSError:
            return False

    def _stamp_text(self) -> str:
        return "\n".join(self.packages) + "\n"

    def ensure(self) -> Path:
        """Create/install the venv if needed; return its python. Raises :class:`PeerError`."""
        if self.ready():
            return self.python()
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.python().exists():
            log.info("creating peer venv at %s", self.venv)
            _check([sys.executable, "-m", "venv", str(self.venv)], "python -m venv", 120)
        log.info("installing %s into the peer venv (takes a few minutes once)",
                 " ".join(self.packages))
        _check([str(self.python()), "-m", "pip", "install", "-q", *self.packages],
               "pip install " + " ".join(self.packages), self.install_timeout_s)
        self.stamp.write_text(self._stamp_text())
        return self.python()

    def run(self, script: str, *args: str, timeout_s: float = 300.0) -> dict[str, Any]:
        """Run ``bench/<script>`` with the peer python; return the JSON it prints."""
        python = self.ensure()
        env = dict(os.environ, WHYLOGS_NO_ANALYTICS="True", PYTHONNOUSERSITE="1")
        env.pop("PYTHONPATH", None)
        try:
            proc = subprocess.run([str(python), str(HERE / script), *args], env=env,
                                  capture_output=True, text=True, timeout=timeout_s,
                                  cwd=str(self.root))
        except subprocess.TimeoutExpired:
            raise PeerError(f"peer script {script} took longer than {timeout_s:.0f} s") from None
        if proc.returncode != 0:
            raise PeerError(f"peer script {script} exited {proc.returncode}: "
                            f"{proc.stderr.strip()[-500:]}")
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise PeerError(f"peer script {script} printed no JSON: {proc.stdout[-300:]!r}")
        return json.loads(lines[-1])


PEERS = PeerEnv(HERE / ".peers")


def _check(cmd: list[str], what: str, timeout_s: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise PeerError(f"{what} took longer than {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        raise PeerError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
