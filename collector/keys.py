"""The device key registry: a JSON file (mode 0600) of per-device HMAC keys.

A key looks like ``edk_<keyid>_<secret>``: ``keyid`` is 8 hex characters
(public, sent in envelopes as ``k``), ``secret`` 32 random bytes in base64url
without padding. The HMAC key is the UTF-8 bytes of the whole string, so the
registry must keep the secret; it is never logged and ``keys list`` never
prints it. A device may hold several keys (rotation); revoking marks keys,
it never deletes them. Writes replace the file atomically; the gateway
reloads it when its mtime changes (:meth:`KeyRegistry.maybe_reload`).

>>> import tempfile, os
>>> reg = KeyRegistry(os.path.join(tempfile.mkdtemp(), "keys.json"))
>>> key = reg.add("dev-1")
>>> key.startswith("edk_"), reg.lookup_id(key_id(key)).device_id
(True, 'dev-1')
>>> reg.revoke("dev-1")
1
>>> reg.lookup_id(key_id(key)).revoked
True
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_sdk.wire import key_id

from .errors import KeyRegistryError

log = logging.getLogger(__name__)

FILE_VERSION = 1
__all__ = ["DeviceKey", "KeyRegistry", "key_id", "new_key"]


@dataclass(frozen=True)
class DeviceKey:
    """One registry entry. ``key`` is the secret key string; keep it out of logs.

    >>> k = DeviceKey("0a1b2c3d", "dev-1", "edk_0a1b2c3d_c2VjcmV0", "2024-01-01T00:00:00Z")
    >>> "edk_" in repr(k), k.public()["key_id"]
    (False, '0a1b2c3d')
    """

    key_id: str
    device_id: str
    key: str
    created_at: str
    revoked_at: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def public(self) -> dict[str, str | None]:
        """Every field except the secret."""
        return {"key_id": self.key_id, "device_id": self.device_id,
                "created_at": self.created_at, "revoked_at": self.revoked_at}

    def __repr__(self) -> str:  # never show the secret
        return (f"DeviceKey(key_id={self.key_id!r}, device_id={self.device_id!r}, "
                f"revoked={self.revoked})")


def new_key() -> tuple[str, str]:
    """A fresh ``(key_id, key)`` pair.

    >>> kid, key = new_key()
    >>> len(kid), key_id(key) == kid, len(key.split("_", 2)[2])
    (8, True, 43)
    """
    kid = secrets.token_hex(4)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return kid, f"edk_{kid}_{secret}"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class KeyRegistry:
    """Load, query and change the key file at ``path``.

    Lookups read an in-memory snapshot; :meth:`maybe_reload` refreshes it when
    the file changed (at most once per ``reload_s``). Changes (:meth:`add`,
    :meth:`revoke`) lock the file, re-read it, and atomically replace it.

    >>> import tempfile, os
    >>> reg = KeyRegistry(os.path.join(tempfile.mkdtemp(), "keys.json"))
    >>> reg.device_keys("nobody")
    []
    """

    def __init__(self, path: str | os.PathLike[str], reload_s: float = 1.0) -> None:
        self._warned: tuple[int, int] | None = None   # (inode, mode) already warned about
        self.path = Path(path)
        self.reload_s = reload_s
        self._by_id: dict[str, DeviceKey] = {}
        self._by_device: dict[str, list[DeviceKey]] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self.loaded = False
        self.load()

    # -- reading ---------------------------------------------------------------
    def load(self) -> None:
        """(Re)read the file; a missing file is an empty registry."""
        with self._lock:
            entries, stamp = self._read()
            self._install(entries, stamp)

    def maybe_reload(self, now: float | None = None) -> bool:
        """Reload if the file changed; checks the mtime at most once per ``reload_s``."""
        now = time.monotonic() if now is None else now
        if now - self._checked < self.reload_s:
            return False
        self._checked = now
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return False
        try:
            self.load()
        except KeyRegistryError as exc:   # keep serving the last good snapshot
            log.error("key registry not reloaded: %s", exc)
            return False
        log.info("key registry reloaded: %d keys", len(self._by_id))
        return True

    def lookup_id(self, kid: str) -> DeviceKey | None:
        return self._by_id.get(kid)

    def device_keys(self, device_id: str) -> list[DeviceKey]:
        """Every key of a device, revoked ones included."""
        return list(self._by_device.get(device_id, ()))

    def entries(self) -> list[DeviceKey]:
        return sorted(self._by_id.values(), key=lambda k: (k.device_id, k.created_at, k.key_id))

    def _read(self) -> tuple[list[DeviceKey], tuple[int, int, int] | None]:
        try:
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read()
        except FileNotFoundError:
            return [], None
        except OSError as exc:
            raise KeyRegistryError("keys_path", str(self.path),
                                   f"a readable file ({exc.strerror})") from exc
        if st.st_mode & 0o077 and (st.st_ino, st.st_mode) != self._warned:
            self._warned = (st.st_ino, st.st_mode)
            log.warning("the key registry %s is readable by other users (mode %o): it holds "
                        "every device's secret; run: chmod 600 %s", self.path,
                        st.st_mode & 0o777, self.path)
        try:
            doc = json.loads(raw)
            items = doc["keys"]
            entries = [DeviceKey(**item) for item in items]
        except (ValueError, KeyError, TypeError):
            raise KeyRegistryError("keys_path", str(self.path),
                                   f"a key registry JSON file (version {FILE_VERSION})") from None
        return entries, (st.st_mtime_ns, st.st_size, st.st_ino)

    def _install(self, entries: list[DeviceKey], stamp: tuple[int, int, int] | None) -> None:
        by_id: dict[str, DeviceKey] = {}
        by_device: dict[str, list[DeviceKey]] = {}
        for e in entries:
            by_id[e.key_id] = e
            by_device.setdefault(e.device_id, []).append(e)
        self._by_id, self._by_device, self._stamp = by_id, by_device, stamp
        self.loaded = True

    # -- changing ----------------------------------------------------------------
    def add(self, device_id: str) -> str:
        """Create a key for ``device_id`` and return it (the only time it is shown)."""
        return self.add_many([device_id])[device_id]

    def add_many(self, device_ids: list[str]) -> dict[str, str]:
        """Create one key per device in one write of the registry; device id -> new key."""
        for device_id in device_ids:
            if not isinstance(device_id, str) or not 0 < len(device_id) <= 128:
                raise KeyRegistryError("device_id", device_id,
                                       "a non-empty string of <= 128 chars")
        created: dict[str, str] = {}
        with self._changing() as entries:
            known = {e.key_id for e in entries}
            for device_id in device_ids:
                kid, key = new_key()
                while kid in known:
                    kid, key = new_key()
                known.add(kid)
                entries.append(DeviceKey(kid, device_id, key, _now_iso()))
                created[device_id] = key
        return created

    def revoke(self, device_id: str, kid: str | None = None) -> int:
        """Revoke a device's keys (or only key ``kid``); returns how many were revoked."""
        count = 0
        with self._changing() as entries:
            for i, e in enumerate(entries):
                if e.device_id == device_id and not e.revoked and kid in (None, e.key_id):
                    entries[i] = DeviceKey(e.key_id, e.device_id, e.key, e.created_at, _now_iso())
                    count += 1
        return count

    @contextlib.contextmanager
    def _changing(self) -> Iterator[list[DeviceKey]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        with self._lock, os.fdopen(lock_fd, "r+") as lock_fh:
            fcntl.flock(lock_fh, fcntl.LOCK_EX)
            entries, _ = self._read()
            yield entries
            self._write(entries)
            entries, stamp = self._read()
            self._install(entries, stamp)

    def _write(self, entries: list[DeviceKey]) -> None:
        doc = {"version": FILE_VERSION, "keys": [asdict(e) for e in entries]}
        fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
