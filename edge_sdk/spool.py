"""A bounded on-disk spool of sealed windows, oldest first, with checksums.

Each window is one file ``<seq:020d>.edw``::

    b"EDW1" | u32 little-endian body length | u32 little-endian CRC-32 of body | body

written to a temp name, fsynced and renamed, so a crash leaves either the
whole file or none. A file whose magic, length or CRC does not match (torn
write, bit flip, truncation) is skipped, deleted and counted as corrupt.
When the spool exceeds ``max_bytes`` or ``max_files`` the oldest windows are
dropped and counted. Counters and the next sequence number live in
``state.json`` (atomically replaced) and survive restarts; sequence numbers
are allocated under an inter-process file lock so a forked child never reuses
one.

>>> import tempfile
>>> sp = Spool(tempfile.mkdtemp(), max_bytes=1 << 20)
>>> seq = sp.next_seq(); sp.append(seq, b"window-bytes")
0
>>> sp.oldest(10) == [(seq, b"window-bytes")], sp.next_seq() == seq + 1
(True, True)
>>> sp.remove([seq]); sp.backlog()
(0, 0)

A brand-new stream starts its sequence at the current Unix time in
milliseconds, so a reinstalled app (spool wiped) never reuses a number
the collector has already seen.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

try:  # POSIX only; on other platforms there is no fork to protect against
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

MAGIC = b"EDW1"
_HEADER = struct.Struct("<4sII")
SUFFIX = ".edw"
COUNTERS = ("dropped", "corrupt", "rejected", "internal_errors", "label_misses")


class Spool:
    """Durable FIFO of window bodies for one (device, model) stream."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = 64 << 20,
                 max_files: int = 100_000, durable: bool = True) -> None:
        self.dir = Path(directory)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = self.dir / ".probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError("spool_dir", str(directory),
                              f"a writable directory ({exc.strerror})") from None
        if max_bytes < 4096:
            raise ConfigError("spool_max_bytes", max_bytes, "at least 4096 bytes")
        if max_files < 1:
            raise ConfigError("spool_max_files", max_files, "at least 1 file")
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.durable = durable  # fsync files and directory (off only for simulations)
        self._state_path = self.dir / "state.json"
        self._lock_path = self.dir / ".lock"
        self._files: dict[int, int] = {}   # seq -> size, for the files this process knows of
        self._rescan()
        for tmp in self.dir.glob(".*.tmp"):  # torn writes from a crash: never renamed, never acked
            with contextlib.suppress(OSError):
                tmp.unlink()

    # -- state ---------------------------------------------------------------------
    def _ensure_dir(self) -> None:
        """Re-create the directory if something removed it at run time (tmp cleaners ...)."""
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True, exist_ok=True)
            log.warning("spool directory %s had disappeared; re-created it", self.dir)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_dir()
        if fcntl is None:
            yield
            return
        with open(self._lock_path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_state(self) -> dict:
        damaged = False
        try:
            state = json.loads(self._state_path.read_text())
            if isinstance(state, dict) and isinstance(state.get("next_seq"), int):
                return state
            damaged = True
        except FileNotFoundError:
            pass
        except (OSError, ValueError):
            damaged = True
        # Lost or corrupt state: start sequences from the clock (ms) so they stay above
        # any number this stream used before, and never collide downstream.
        known = max(self._files, default=-1) + 1
        state = {"next_seq": max(known, int(time.time() * 1000)), **dict.fromkeys(COUNTERS, 0)}
        if damaged:   # its counters are lost: say so (one corrupt file) and keep the evidence
            log.warning("spool state %s is corrupt; counters restart (kept as %s.corrupt)",
                        self._state_path, self._state_path.name)
            with contextlib.suppress(OSError):
                os.replace(self._state_path, self._state_path.with_suffix(".json.corrupt"))
            state["corrupt"] = 1
            with contextlib.suppress(OSError):
                self._write_state(state)
        return state

    def _write_state(self, state: dict) -> None:
        tmp = self.dir / f".state.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(json.dumps(state))
            fh.flush()
            if self.durable:
                os.fsync(fh.fileno())
        os.replace(tmp, self._state_path)
        if self.durable:
            _fsync_dir(self.dir)

    def next_seq(self) -> int:
        """Allocate the next sequence number of this stream (persisted, process-safe)."""
        with self._locked():
            state = self._read_state()
            seq = max(state["next_seq"], max(self._scan_seqs(), default=-1) + 1)
            state["next_seq"] = seq + 1
            self._write_state(state)
            return seq

    def counters(self) -> dict[str, int]:
        """Cumulative counters since install (dropped, corrupt, rejected ...)."""
        state = self._read_state()
        return {k: int(state.get(k, 0)) for k in COUNTERS}

    def count(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to a persisted counter."""
        if not n:
            return
        with self._locked():
            state = self._read_state()
            state[counter] = int(state.get(counter, 0)) + n
            self._write_state(state)

    # -- files -----------------------------------------------------------------------
    def _scan_seqs(self) -> list[int]:
        out = []
        for p in self.dir.glob("*" + SUFFIX):
            with contextlib.suppress(ValueError):
                out.append(int(p.stem))
        return out

    def _rescan(self) -> None:
        files = {}
        for seq in self._scan_seqs():
            with contextlib.suppress(OSError):
                files[seq] = (self.dir / f"{seq:020d}{SUFFIX}").stat().st_size
        self._files = files

    def append(self, seq: int, body: bytes) -> int:
        """Durably store one window; returns how many old windows were dropped to fit it."""
        self._ensure_dir()
        path = self.dir / f"{seq:020d}{SUFFIX}"
        tmp = self.dir / f".{seq:020d}.{os.getpid()}.tmp"
        data = _HEADER.pack(MAGIC, len(body), zlib.crc32(body)) + body
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if self.durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if self.durable:
            _fsync_dir(self.dir)
        self._files[seq] = len(data)
        return self._enforce_bounds()

    def _enforce_bounds(self) -> int:
        self._rescan()
        dropped = 0
        total = sum(self._files.values())
        for seq in sorted(self._files):
            if total <= self.max_bytes and len(self._files) <= self.max_files:
                break
            total -= self._files.pop(seq)
            with contextlib.suppress(OSError):
                (self.dir / f"{seq:020d}{SUFFIX}").unlink()
            dropped += 1
        if dropped:
            log.warning("spool full: dropped the %d oldest window(s) of %s", dropped, self.dir)
            self.count("dropped", dropped)
        return dropped

    def oldest(self, limit: int, max_bytes: int = 1 << 20) -> list[tuple[int, bytes]]:
        """Up to ``limit`` intact windows, oldest first (corrupt files are removed and counted)."""
        out: list[tuple[int, bytes]] = []
        size = 0
        corrupt = 0
        for seq in sorted(self._scan_seqs()):
            if len(out) >= limit:
                break
            path = self.dir / f"{seq:020d}{SUFFIX}"
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:   # unreadable (failing flash, permissions): set it aside
                corrupt += 1
                self._quarantine(path, seq, exc)
                continue
            body = _check(data)
            if body is None:
                corrupt += 1
                log.warning("spool file %s is corrupt (torn or bit-flipped); skipped", path.name)
                with contextlib.suppress(OSError):
                    path.unlink()
                self._files.pop(seq, None)
                continue
            if out and size + len(body) > max_bytes:
                break
            out.append((seq, body))
            size += len(body)
        self.count("corrupt", corrupt)
        return out

    def _quarantine(self, path: Path, seq: int, exc: OSError) -> None:
        """Move an unreadable window out of the queue (into ``quarantine/``), so the sender
        never spins on it; it is counted as corrupt (``hl.dc``)."""
        log.warning("spool file %s is unreadable (%s); moved to quarantine/", path.name,
                    exc.strerror or exc)
        target = self.dir / "quarantine"
        try:
            target.mkdir(exist_ok=True)
            os.replace(path, target / path.name)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
        self._files.pop(seq, None)

    def remove(self, seqs: list[int]) -> None:
        """Delete delivered (or definitively rejected) windows."""
        for seq in seqs:
            with contextlib.suppress(OSError):
                (self.dir / f"{seq:020d}{SUFFIX}").unlink()
            self._files.pop(seq, None)

    def backlog(self) -> tuple[int, int]:
        """(windows, bytes) waiting in the spool."""
        self._rescan()
        return len(self._files), sum(self._files.values())

    @contextlib.contextmanager
    def sending(self) -> Iterator[bool]:
        """Non-blocking inter-process claim on sending (True if this process holds it)."""
        self._ensure_dir()
        if fcntl is None:
            yield True
            return
        with open(self.dir / ".send.lock", "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _check(data: bytes) -> bytes | None:
    if len(data) < _HEADER.size:
        return None
    magic, length, crc = _HEADER.unpack_from(data)
    body = data[_HEADER.size:]
    if magic != MAGIC or length != len(body) or zlib.crc32(body) != crc:
        return None
    return body


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
