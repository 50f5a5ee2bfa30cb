"""Where the Parquet dataset lives: a local directory or an S3-compatible bucket.

Everything that writes or lists the dataset (the sinks' commit protocol, compaction, the
written-window state, the readers' file listing) goes through a :class:`Storage`, which
names files by their path relative to the dataset root (``windows/model=m/date=d/x.parquet``):

* :class:`LocalStorage` - a directory: temp file, fsync, ``os.replace``, directory fsync.
* :class:`S3Storage` - a bucket and prefix: read and listed through
  :class:`pyarrow.fs.S3FileSystem`, written with boto3 (one ``PutObject`` per file, a
  managed multipart upload for a large compacted file, ``If-None-Match`` conditional writes
  for the compaction lease); credentials from the usual ``AWS_*`` environment variables.
  An object appears whole or not at all when its upload completes, so a "temp file" is a
  buffer in memory and the "rename" is the upload; a process killed mid-upload leaves
  nothing visible. (boto3 writes because pyarrow's multipart completion is refused by
  some S3-compatible servers, moto among them: "error embedded in a 200 OK response".)

:func:`open_storage` picks one from the dataset location: ``s3://bucket/prefix`` or a path.
The endpoint and region of an S3-compatible server come from :class:`StorageConfig`
(``[storage]`` in the TOML config, ``EDGEDRIFT_STORAGE_*`` environment variables).

>>> import tempfile
>>> st = open_storage(tempfile.mkdtemp())
>>> st.put_bytes("a/b.txt", b"hi"); st.read_bytes("a/b.txt"), st.remote
(b'hi', False)
>>> [e.name for e in st.list_dir("a")], st.list_subdirs(""), st.exists("a/c.txt")
(['b.txt'], ['a'], False)
"""

from __future__ import annotations

import io
import os
import posixpath
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = ["Entry", "LocalStorage", "S3Storage", "Storage", "StorageConfig", "configure",
           "configure_from", "dataset_location", "open_storage", "TMP_SUFFIX"]

TMP_SUFFIX = ".tmp"
_HOST = socket.gethostname().replace(".", "_") or "host"


@dataclass(frozen=True)
class StorageConfig:
    """Where the dataset lives (``[storage]``; ``EDGEDRIFT_STORAGE_<FIELD>`` overrides).

    ``uri``: the dataset location for every component, e.g. ``s3://bucket/prefix`` (empty:
    each component's own ``dataset`` setting, by default ``<data-dir>/telemetry``).
    ``endpoint_url``: an S3-compatible server (``http://minio:9000``; empty: AWS).
    ``region``: the bucket's region (empty: the SDK's default, ``AWS_REGION``).

    >>> StorageConfig(uri="s3://b/p", endpoint_url="http://127.0.0.1:9000").endpoint_url
    'http://127.0.0.1:9000'
    >>> StorageConfig(endpoint_url="minio:9000")
    Traceback (most recent call last):
    ...
    ValueError: endpoint_url: got 'minio:9000', expected http://HOST[:PORT] or https://HOST[:PORT]
    """

    uri: str = ""
    endpoint_url: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint_url: got {self.endpoint_url!r}, expected "
                             "http://HOST[:PORT] or https://HOST[:PORT]")
        if self.uri and "://" in self.uri and not self.uri.startswith("s3://"):
            raise ValueError(f"uri: got {self.uri!r}, expected s3://BUCKET[/PREFIX] or a path")

    @classmethod
    def from_env(cls) -> StorageConfig:
        """Built from ``EDGEDRIFT_STORAGE_*`` alone (no config file)."""
        from edgedrift.config import build_config

        return build_config(cls, {}, section="storage")


_DEFAULT: StorageConfig | None = None


def configure(config: StorageConfig | None) -> None:
    """Set the storage settings of this process (a CLI's ``main()`` calls it once with the
    ``[storage]`` section; None: from the environment again)."""
    global _DEFAULT
    _DEFAULT = config


def configure_from(toml: dict[str, Any]) -> StorageConfig:
    """Build the settings from a config file's ``[storage]`` section (and the environment),
    make them this process's (:func:`configure`) and return them."""
    from edgedrift.config import build_config, section

    config = build_config(StorageConfig, section(toml, "storage"), section="storage")
    configure(config)
    return config


def settings() -> StorageConfig:
    """The storage settings of this process (:func:`configure`, else the environment)."""
    return _DEFAULT if _DEFAULT is not None else StorageConfig.from_env()


def dataset_location(default: str) -> str:
    """``[storage] uri`` when set, else ``default`` (a component's own dataset setting)."""
    return settings().uri or default


class Entry(NamedTuple):
    """One file of a directory listing."""

    name: str
    size: int
    mtime: float     # seconds since the epoch


class Storage:
    """The operations the dataset needs, on paths relative to its root (``/``-separated)."""

    remote: bool = False
    root: str
    fs: pafs.FileSystem

    def fs_path(self, rel: str) -> str:
        """The path of ``rel`` in :attr:`fs` (for pyarrow readers)."""
        raise NotImplementedError

    def path(self, rel: str) -> Path | PurePosixPath:
        """A path object for ``rel`` (a local :class:`Path`; under S3 ``bucket/prefix/rel``)."""
        raise NotImplementedError

    def rel(self, path: str | os.PathLike[str]) -> str:
        """Inverse of :meth:`path`."""
        base = PurePosixPath(self.fs_path(""))
        return str(PurePosixPath(os.fspath(path)).relative_to(base))

    def list_dir(self, rel: str) -> list[Entry]:
        raise NotImplementedError

    def list_subdirs(self, rel: str) -> list[str]:
        raise NotImplementedError

    def list_names(self, rel: str) -> list[str]:
        """The names of the files of a directory (no sizes or times: cheaper locally)."""
        return [e.name for e in self.list_dir(rel)]

    def entry(self, rel: str) -> Entry | None:
        """One file's listing entry (None if it is not there)."""
        parent, _, name = rel.rpartition("/")
        return next((e for e in self.list_dir(parent) if e.name == name), None)

    def exists(self, rel: str) -> bool:
        raise NotImplementedError

    def delete(self, rel: str) -> bool:
        """Remove a file; False if it was not there."""
        raise NotImplementedError

    def read_bytes(self, rel: str) -> bytes:
        raise NotImplementedError

    def put_bytes(self, rel: str, data: bytes) -> None:
        """Write a whole file durably and atomically (readers see all of it or none)."""
        raise NotImplementedError

    def stage_parquet(self, rel: str, table: pa.Table, options: dict[str, Any]) -> Any:
        """Encode ``table`` for ``rel`` without publishing it (a temp file, or a buffer);
        :meth:`publish` makes it visible, :meth:`discard` drops it."""
        raise NotImplementedError

    def publish(self, staged: Any, rel: str) -> None:
        raise NotImplementedError

    def discard(self, staged: Any) -> None:
        raise NotImplementedError

    def sync_dirs(self, rels: set[str]) -> None:
        """Make the renames into these directories durable (local disks only)."""

    def ensure_dir(self, rel: str) -> None:
        """Create a directory and its parents (local disks only; buckets have none)."""

    # -- derived ------------------------------------------------------------------------
    def read_schema(self, rel: str) -> pa.Schema:
        with self.fs.open_input_file(self.fs_path(rel)) as fh:
            return pq.read_schema(fh)

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.fs_path(rel), columns=columns, filesystem=self.fs)

    def walk_files(self, rel: str = "") -> list[tuple[str, Entry]]:
        """``(directory, entry)`` of every file under ``rel``, recursively."""
        out = [(rel, e) for e in self.list_dir(rel)]
        for sub in self.list_subdirs(rel):
            out.extend(self.walk_files(posixpath.join(rel, sub) if rel else sub))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"


class LocalStorage(Storage):
    """A directory on a local (or shared POSIX) file system.

    >>> import tempfile
    >>> st = LocalStorage(tempfile.mkdtemp()); st.ensure_dir("t")
    >>> staged = st.stage_parquet("t/x.parquet", pa.table({"a": [1]}), {})
    >>> st.exists("t/x.parquet"); st.publish(staged, "t/x.parquet"); st.exists("t/x.parquet")
    False
    True
    """

    remote = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.base = Path(root)
        self.root = str(self.base)
        self.fs = pafs.LocalFileSystem()

    def fs_path(self, rel: str) -> str:
        return str(self.base / rel) if rel else str(self.base)

    def path(self, rel: str) -> Path:
        return self.base / rel if rel else self.base

    def rel(self, path: str | os.PathLike[str]) -> str:
        return Path(path).relative_to(self.base).as_posix()

    def list_dir(self, rel: str) -> list[Entry]:
        try:
            entries = list(os.scandir(self.path(rel)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for e in entries:
            try:
                if e.is_file():
                    st = e.stat()
                    out.append(Entry(e.name, st.st_size, st.st_mtime))
            except FileNotFoundError:      # removed while listing
                continue
        return out

    def list_subdirs(self, rel: str) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.path(rel)) if e.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_names(self, rel: str) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.path(rel)) if e.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def entry(self, rel: str) -> Entry | None:
        try:
            st = os.stat(self.path(rel))
        except FileNotFoundError:
            return None
        return Entry(PurePosixPath(rel).name, st.st_size, st.st_mtime)

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def delete(self, rel: str) -> bool:
        try:
            self.path(rel).unlink()
            return True
        except FileNotFoundError:
            return False

    def read_bytes(self, rel: str) -> bytes:
        return self.path(rel).read_bytes()

    def put_bytes(self, rel: str, data: bytes) -> None:
        final = self.path(rel)
        self.ensure_dir(str(PurePosixPath(rel).parent) if "/" in rel else "")
        tmp = self._temp(final)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(final.parent)

    @staticmethod
    def _temp(final: Path) -> Path:
        return final.with_name(f".{final.name}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                               f"{TMP_SUFFIX}")

    def stage_parquet(self, rel: str, table: pa.Table, options: dict[str, Any]) -> Path:
        tmp = self._temp(self.path(rel))
        try:
            with open(tmp, "wb") as fh:
                pq.write_table(table, fh, **options)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)     # e.g. a full disk: leave no partial temp file
            raise
        return tmp

    def publish(self, staged: Path, rel: str) -> None:
        os.replace(staged, self.path(rel))

    def discard(self, staged: Path) -> None:
        staged.unlink(missing_ok=True)

    def sync_dirs(self, rels: set[str]) -> None:
        for rel in rels:
            fsync_dir(self.path(rel))

    def ensure_dir(self, rel: str) -> None:
        ensure_dir(self.path(rel))


class S3Storage(Storage):
    """A prefix of an S3-compatible bucket (``s3://bucket/prefix``).

    Objects are written whole with one upload (visible only once it completes) and listed
    with strongly consistent LIST calls; there are no directories, renames or fsyncs.
    """

    remote = True

    def __init__(self, uri: str, config: StorageConfig | None = None) -> None:
        if not uri.startswith("s3://") or not uri[5:].strip("/"):
            raise ValueError(f"storage.uri: got {uri!r}, expected s3://BUCKET[/PREFIX]")
        config = config or settings()
        self.config = config
        self.root = uri.rstrip("/")
        self.base = uri[5:].strip("/")
        self.bucket, _, self.prefix = self.base.partition("/")
        self._client: Any = None
        kwargs: dict[str, Any] = {}
        if config.endpoint_url:
            scheme, _, host = config.endpoint_url.partition("://")
            kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        if config.region:
            kwargs["region"] = config.region
        self.fs = pafs.S3FileSystem(**kwargs)

    def fs_path(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def path(self, rel: str) -> PurePosixPath:
        return PurePosixPath(self.fs_path(rel))

    def _infos(self, rel: str) -> list[pafs.FileInfo]:
        try:
            return self.fs.get_file_info(pafs.FileSelector(self.fs_path(rel),
                                                           allow_not_found=True))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_dir(self, rel: str) -> list[Entry]:
        return [Entry(i.base_name, i.size or 0, i.mtime.timestamp() if i.mtime else 0.0)
                for i in self._infos(rel) if i.type == pafs.FileType.File]

    def list_subdirs(self, rel: str) -> list[str]:
        return sorted(i.base_name for i in self._infos(rel)
                      if i.type == pafs.FileType.Directory)

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.fs_path(rel)).type == pafs.FileType.File

    def delete(self, rel: str) -> bool:
        try:
            self.fs.delete_file(self.fs_path(rel))
            return True
        except FileNotFoundError:
            return False

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.fs_path(rel)) as fh:
            return fh.read()

    @property
    def client(self) -> Any:
        """A boto3 S3 client for this storage's endpoint and region."""
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise RuntimeError("writing to object storage needs boto3: pip install "
                                   "'edgedrift[s3]'") from None
            kwargs: dict[str, Any] = {}
            if self.config.endpoint_url:
                kwargs["endpoint_url"] = self.config.endpoint_url
            if self.config.region:
                kwargs["region_name"] = self.config.region
            self._client = boto3.client("s3", **kwargs)
        return self._client

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def put_bytes(self, rel: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data)
        except Exception as exc:    # botocore's errors, as the OSError a disk would raise
            raise _as_oserror(exc, rel) from exc

    def put_if_absent(self, rel: str, data: bytes) -> bool:
        """Create an object only if none has its key (``If-None-Match: *``); False if one
        has."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data,
                                   IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                    "PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def upload_file(self, rel: str, path: str | os.PathLike[str]) -> None:
        """Upload a local file (multipart when large; visible once complete)."""
        try:
            self.client.upload_file(os.fspath(path), self.bucket, self.key(rel))
        except Exception as exc:
            raise _as_oserror(exc, rel) from exc

    def stage_parquet(self, rel: str, table: pa.Table, options: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        pq.write_table(table, buf, **options)
        return buf.getvalue()

    def publish(self, staged: bytes, rel: str) -> None:
        self.put_bytes(rel, staged)

    def discard(self, staged: bytes) -> None:
        return None


def _as_oserror(exc: Exception, rel: str) -> OSError:
    """A failed request as an OSError naming the object (callers handle disk errors so)."""
    if isinstance(exc, OSError):
        return exc
    return OSError(f"{rel}: object storage request failed: {type(exc).__name__}: {exc}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """mkdir -p that fsyncs the parent of every directory it creates."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return
    fsync_dir(path.parent)


def open_storage(location: str | os.PathLike[str] | Storage,
                 config: StorageConfig | None = None) -> Storage:
    """The storage of a dataset location: ``s3://bucket/prefix`` or a local path (a
    :class:`Storage` is returned as it is)."""
    if isinstance(location, Storage):
        return location
    text = os.fspath(location)
    if text.startswith("s3://"):
        return S3Storage(text, config)
    if "://" in text:
        raise ValueError(f"dataset: got {text!r}, expected a local path or s3://BUCKET[/PREFIX]")
    return LocalStorage(text)
