"""One compaction at a time per dataset: a flock locally, a lease object on object storage.

Two compactions merging the same batches into two compacted files would count those rows
twice for good, so a compaction holds the dataset's lease while it runs:

* local disk: an exclusive, non-blocking ``flock`` on ``<dataset>/.compact.lock``;
* object storage (no flock): lease objects ``_compaction/lease-<n>.json`` with generation
  numbers, each created by a *conditional write* (``If-None-Match: *``, which S3, MinIO and
  moto honour): of two runs that read generation ``n`` at once, only one creates
  ``lease-<n+1>``. A finished run writes ``released-<n>``. A lease neither released nor
  renewed for ``lease_s`` belongs to a run that died: the next run takes ``n+1``. Before
  each directory's publish a run checks that no newer lease exists (it was not taken over
  as dead), else it stops.

Readers take no part in this (see :mod:`collector.live_files`).

>>> import tempfile
>>> from collector.storage import open_storage
>>> st = open_storage(tempfile.mkdtemp())
>>> with compaction_lease(st) as lease:
...     lease.check()
...     with compaction_lease(st):
...         pass    # doctest: +ELLIPSIS
Traceback (most recent call last):
...
collector.compaction_lease.CompactionBusy: another compaction runs on ... run one at a time
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from .storage import S3Storage, Storage

log = logging.getLogger(__name__)

COMPACT_LOCK = ".compact.lock"
LEASE_DIR = "_compaction"
LEASE_S = 3600.0
_LEASE = re.compile(r"^(lease|released)-(\d{12})\.json$")

__all__ = ["CompactionBusy", "Lease", "compaction_lease", "COMPACT_LOCK"]


class CompactionBusy(RuntimeError):
    """Another compaction holds the dataset's compaction lock or lease."""


class Lease:
    """The lease a run holds; :meth:`check` raises :class:`CompactionBusy` if it was lost."""

    def __init__(self, st: Storage | None = None, generation: int = 0) -> None:
        self.st = st
        self.generation = generation

    def check(self) -> None:
        if self.st is None or not self.generation:
            return
        newer = [n for kind, n in _leases(self.st) if kind == "lease" and n > self.generation]
        if newer:
            raise CompactionBusy(f"{self.st.root}: lease {self.generation} was taken over by "
                                 f"lease {max(newer)} (this run was taken for dead); stopping")


@contextlib.contextmanager
def compaction_lease(st: Storage, hold: bool = True, lease_s: float = LEASE_S
                     ) -> Iterator[Lease]:
    """Hold the dataset's compaction lease while inside (``hold=False``: a dry run, none)."""
    if not hold:
        yield Lease()
        return
    if not st.remote:
        with _flocked(Path(st.root) / COMPACT_LOCK):
            yield Lease()
        return
    assert isinstance(st, S3Storage)
    lease = _take(st, lease_s)
    try:
        yield lease
    finally:
        with contextlib.suppress(Exception):     # an unreleased lease only expires later
            st.put_bytes(f"{LEASE_DIR}/released-{lease.generation:012d}.json", b"{}")
            _tidy(st, lease.generation)


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CompactionBusy(f"another compaction runs on {path.parent} (it holds "
                                 f"{path.name}); run one at a time") from None
        yield
    finally:
        os.close(fd)


def _leases(st: Storage) -> list[tuple[str, int]]:
    out = []
    for e in st.list_dir(LEASE_DIR):
        m = _LEASE.match(e.name)
        if m:
            out.append((m[1], int(m[2])))
    return out


def _take(st: S3Storage, lease_s: float) -> Lease:
    entries = {e.name: e for e in st.list_dir(LEASE_DIR)}
    leases = sorted(int(m[2]) for m in map(_LEASE.match, entries) if m and m[1] == "lease")
    released = {int(m[2]) for m in map(_LEASE.match, entries) if m and m[1] == "released"}
    top = leases[-1] if leases else 0
    if top and top not in released:
        age = time.time() - entries[f"lease-{top:012d}.json"].mtime
        if age < lease_s:
            raise CompactionBusy(f"another compaction runs on {st.root} (it holds lease {top}, "
                                 f"{age:.0f} s old); run one at a time")
        log.warning("compaction lease %d of %s is %.0f s old and never released: taken over",
                    top, st.root, age)
    mine = top + 1
    body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                       "at": time.time()}).encode()
    if not _put_if_absent(st, f"{LEASE_DIR}/lease-{mine:012d}.json", body):
        raise CompactionBusy(f"another compaction runs on {st.root} (it took lease {mine} "
                             "first); run one at a time")
    return Lease(st, mine)


def _put_if_absent(st: S3Storage, rel: str, body: bytes) -> bool:
    """Create an object only if no object has its key (S3 ``If-None-Match: *``)."""
    try:
        return st.put_if_absent(rel, body)
    except RuntimeError as exc:          # no boto3
        raise CompactionBusy(str(exc)) from None


def _tidy(st: Storage, generation: int) -> None:
    """Delete lease objects of generations older than the previous one."""
    for kind, n in _leases(st):
        if n < generation - 1:
            st.delete(f"{LEASE_DIR}/{kind}-{n:012d}.json")
