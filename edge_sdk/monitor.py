"""The device-side entry point: :class:`Monitor`.

``log()`` is the hot path: it updates the open window's sketches in memory
under a short lock (no I/O, no allocation it can avoid) and never raises. A
sealer thread closes the window every ``window_s`` seconds: it encodes the
window (wire format v1) and appends it to the on-disk spool, then wakes the
sender thread, which delivers the spool to the collector.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .categorical import category_key
from .errors import ConfigError
from .layout import ENERGY
from .numeric import NumericSketch
from .sender import Endpoint, Sender
from .spec import Spec
from .spool import Spool
from .window import WindowSketch
from .wire import (
    MODEL_NAME_RULE,
    WINDOW_VERSIONS,
    WIRE_VERSION,
    as_version,
    encode_window,
    is_model_name,
)

log = logging.getLogger(__name__)

SDK_NAME = "edgedrift-py/0.1.0"
DEFAULT_SPOOL_DIR = os.path.join(os.path.expanduser("~"), ".edgedrift", "spool")
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class Monitor:
    """Sketch every inference of one model on one device and ship one signed window per period.

    Configuration errors fail here, at construction, naming the argument; data
    errors inside :meth:`log` are counted and never raised.

    >>> import tempfile
    >>> mon = Monitor(model="kws", version="1.3.0", device_id="dev-0042",
    ...               endpoint="http://127.0.0.1:9/v1/telemetry", key="edk_0a1b2c3d_secret",
    ...               window_s=60, spool_dir=tempfile.mkdtemp(), start=False)
    >>> pid = mon.log({"rms": 0.21, "zcr": 0.08, "mic": "front"}, prediction=0.93, latency_ms=4.1)
    >>> mon.label(pid, 1)
    True
    >>> mon.log("not a dict") >= 0       # bad input is counted, never raised
    True
    >>> mon.seal_window()["n"]
    2
    >>> mon.close(timeout_s=0)

    Parameters: ``tags`` are segment labels sent with every window (firmware,
    region, hardware ...); ``model_hash`` (or ``model_path``, hashed with
    SHA-256) lets the fleet census spot stale or tampered models;
    ``sample_rows`` > 0 opts in to sending that many raw rows per window
    (reservoir sample, off by default for privacy); ``compress`` zlib-compresses
    requests; ``spool_max_bytes`` bounds the on-disk backlog. ``clock`` (Unix
    seconds) stamps window start/end and defaults to ``time.time``; simulations
    pass a compressed clock and call :meth:`seal_window` themselves
    (``start=False``). Signatures always use the real clock. ``durable=False``
    skips the spool's fsyncs: only for simulations, never on a device.
    """

    def __init__(self, model: str, version: str, device_id: str, endpoint: str, key: str,
                 spec: str | os.PathLike[str] | Spec | dict | None = None, window_s: float = 60,
                 spool_dir: str | os.PathLike[str] = DEFAULT_SPOOL_DIR, *,
                 tags: dict[str, str] | None = None, model_hash: str | None = None,
                 model_path: str | os.PathLike[str] | None = None, compress: bool = True,
                 spool_max_bytes: int = 64 << 20, spool_max_files: int = 100_000,
                 batch_size: int = 50, timeout_s: float = 10.0, backoff_max_s: float = 300.0,
                 label_memory: int = 4096, sample_rows: int = 0, max_features: int = 64,
                 category_capacity: int = 32, send_empty_windows: bool = True,
                 close_timeout_s: float = 5.0, ssl_context: Any = None, start: bool = True,
                 clock: Callable[[], float] | None = None, durable: bool = True,
                 wire_version: int = WIRE_VERSION) -> None:
        self.model = _ident("model", model)
        if not is_model_name(self.model):
            raise ConfigError("model", model, MODEL_NAME_RULE)
        self.version = _ident("version", version)
        self.device_id = _ident("device_id", device_id)
        if not isinstance(key, str) or len(key) < 8:
            raise ConfigError("key", "<hidden>", "the device key string printed by "
                                                 "`edgedrift keys add DEVICE_ID` (>= 8 characters)")
        self._key = key
        self.endpoint = Endpoint.parse(endpoint)
        if isinstance(window_s, bool) or not isinstance(window_s, (int, float)) \
                or not 0.05 <= window_s <= 86400:
            raise ConfigError("window_s", window_s, "a number of seconds between 0.05 and 86400")
        self.window_s = float(window_s)
        self.spec = _load_spec(spec)
        self.tags = _tags(tags or {})
        self.model_hash = _model_hash(model_hash, model_path)
        for name, value, lo in (("label_memory", label_memory, 1), ("sample_rows", sample_rows, 0),
                                ("max_features", max_features, 1),
                                ("category_capacity", category_capacity, 1),
                                ("batch_size", batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ConfigError(name, value, f"an integer >= {lo}")
        if sample_rows > 1024:
            raise ConfigError("sample_rows", sample_rows, "at most 1024 rows per window")
        self.max_features = max_features
        self.category_capacity = category_capacity
        self.send_empty_windows = send_empty_windows
        if wire_version not in WINDOW_VERSIONS or isinstance(wire_version, bool):
            raise ConfigError("wire_version", wire_version,
                              f"one of {WINDOW_VERSIONS} (1 only for a collector that predates "
                              "wire v2)")
        self.wire_version = wire_version
        self.close_timeout_s = close_timeout_s
        safe_model = "".join(c if c in _SAFE else "_" for c in self.model)
        self.spool = Spool(os.path.join(os.fspath(spool_dir), safe_model), spool_max_bytes,
                           spool_max_files, durable)
        self.sender = Sender(self.spool, self.endpoint, key, self.device_id, self.model,
                             compress=compress, batch_size=batch_size, timeout_s=timeout_s,
                             backoff_max_s=backoff_max_s, ssl_context=ssl_context)
        # Hot-path state (guarded by _lock)
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._reported_names: set[str] = set()   # unusable feature names already logged
        self._window = self._new_window()
        self._window_start_ms = self._now_ms()
        self._pid = 0
        self._pred_memory = label_memory
        self._pred_ids = [-1] * label_memory
        self._preds: list[Any] = [None] * label_memory
        self._internal_errors = 0
        self._label_misses = 0
        self._sample_k = sample_rows
        self._samples: list[dict[str, Any]] = []
        self._sample_next = sample_rows
        self._sample_w = 1.0
        # Threads
        self._closed = False
        self._stop = threading.Event()
        self._sealer: threading.Thread | None = None
        self._deadline = self._first_deadline()
        self._finalizer = weakref.WeakMethod(self.close)
        atexit.register(_close_at_exit, self._finalizer)
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (ref() or (lambda: None))())
        if start:
            self.start()

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Start the sealer and sender threads (done by the constructor unless start=False)."""
        if self._closed:
            return
        self.sender.start()
        if self._sealer is None or not self._sealer.is_alive():
            self._stop.clear()
            self._sealer = threading.Thread(target=self._seal_loop, name="edgedrift-sealer",
                                            daemon=True)
            self._sealer.start()

    def close(self, timeout_s: float | None = None) -> None:
        """Seal the open window, try to deliver the spool for ``timeout_s`` seconds, stop.

        Whatever is not delivered stays in the spool and is sent by the next Monitor
        of this model on this device. Idempotent; also runs at interpreter exit.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._sealer is not None and self._sealer is not threading.current_thread():
            self._sealer.join(timeout=5.0)
        try:
            self.seal_window(final=True)
        except Exception:
            log.exception("edgedrift: could not seal the last window")
        self.sender.stop(self.close_timeout_s if timeout_s is None else timeout_s)

    def status(self) -> dict[str, Any]:
        """What the app can show: ``last_status`` (HTTP status of the collector's last answer,
        None before any), ``last_error`` (why windows are kept, e.g. ``HTTP 404 ...: check the
        endpoint URL``; "" when healthy), ``backlog_windows`` / ``backlog_bytes`` (spooled, not
        yet delivered), ``dropped`` (spool full) and ``rejected`` (refused by the collector)
        since install, ``last_success`` (``time.time()`` of the last delivery, or None).
        Never raises."""
        try:
            return self.sender.status()
        except Exception:  # never raise into the app
            self._internal_errors += 1
            return {"last_status": None, "last_error": "status unavailable",
                    "backlog_windows": -1, "backlog_bytes": -1, "dropped": -1, "rejected": -1,
                    "last_success": None}

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Seal the open window now and wait until the spool is delivered (True) or timeout."""
        try:
            self.seal_window()
            self.sender.wake.set()
            end = time.monotonic() + timeout_s
            while time.monotonic() < end:
                if not self.spool.backlog()[0]:
                    return True
                if self.sender._thread is None or not self.sender._thread.is_alive():
                    self.sender.send_once()
                time.sleep(0.02)
            return not self.spool.backlog()[0]
        except Exception:  # never raise into the app
            log.exception("edgedrift: flush failed")
            self._internal_errors += 1
            return False

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        # A forked child must not share the parent's lock, threads or open window.
        self._lock = threading.Lock()
        self._window = self._new_window()
        self._samples = []
        self._sealer = None
        self.sender._thread = None
        self.sender._conn = None
        self.sender.wake = threading.Event()
        self._stop = threading.Event()
        if not self._closed:
            self.start()

    # -- hot path ------------------------------------------------------------------
    def log(self, features: dict[str, Any], prediction: Any = None, latency_ms: Any = None,
            energy_mj: Any = None) -> int:
        """Record one inference. Returns a prediction id for :meth:`label` (-1 on internal error).

        Never raises and never blocks on I/O: unusable values are counted in the
        window's data-quality counters.
        """
        try:
            with self._lock:
                w = self._window
                w.n += 1
                self._pid = pid = self._pid + 1
                if type(features) is dict:
                    get = w.features.get
                    for name, value in features.items():
                        sk = get(name)
                        if sk is None:
                            sk = w.new_feature(name, value)
                            if sk is None:
                                continue
                        if (type(value) is float and sk.__class__ is NumericSketch
                                and value == value):
                            buf = sk.buf
                            buf.append(value)
                            if len(buf) >= sk.fold_at:
                                sk.flush()
                        else:
                            sk.update(value)
                elif hasattr(features, "items"):
                    w.add_record(dict(features.items()))
                    w.n -= 1
                else:
                    w.bad_record += 1
                if prediction is not None:
                    w.add_prediction(prediction)
                    slot = pid % self._pred_memory
                    self._pred_ids[slot] = pid
                    self._preds[slot] = prediction
                if latency_ms is not None:
                    w.latency.update(latency_ms)
                if energy_mj is not None:
                    if w.energy is None:
                        w.energy = NumericSketch(ENERGY)
                    w.energy.update(energy_mj)
                if self._sample_k:
                    self._sample(w.n - 1, features, prediction)
            return pid
        except Exception:
            self._internal_errors += 1
            return -1

    def label(self, prediction_id: int, label: Any) -> bool:
        """Attach delayed ground truth to a recent prediction (False if it is too old/unknown)."""
        try:
            with self._lock:
                slot = prediction_id % self._pred_memory
                if prediction_id <= 0 or self._pred_ids[slot] != prediction_id:
                    self._label_misses += 1
                    return False
                prediction = self._preds[slot]
                self._window.label_sketch(prediction, label).update(prediction, label)
                return True
        except Exception:
            self._internal_errors += 1
            return False

    def _sample(self, index: int, features: Any, prediction: Any) -> None:
        # Reservoir sampling, Algorithm L: O(1) per record, a random draw only when sampling.
        k = self._sample_k
        if index < k:
            self._samples.append(_row(features, prediction))
            if index == k - 1:
                self._sample_w = math.exp(math.log(random.random() or 1e-300) / k)
                self._sample_next = index + self._skip()
            return
        if index == self._sample_next:
            self._samples[random.randrange(k)] = _row(features, prediction)
            self._sample_w *= math.exp(math.log(random.random() or 1e-300) / k)
            self._sample_next = index + self._skip()

    def _skip(self) -> int:
        w = min(self._sample_w, 1 - 1e-12)
        return int(math.log(random.random() or 1e-300) / math.log(1 - w)) + 1

    # -- windows -------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _new_window(self) -> WindowSketch:
        return WindowSketch(self.spec, self.max_features, self.category_capacity,
                            self._reported_names)

    def _first_deadline(self) -> float:
        now = time.time()
        aligned_end = (math.floor(now / self.window_s) + 1) * self.window_s
        if aligned_end - now < self.window_s / 2:  # too short a first window: skip one boundary
            aligned_end += self.window_s
        return time.monotonic() + (aligned_end - now)

    def _seal_loop(self) -> None:
        while not self._stop.is_set():
            remaining = self._deadline - time.monotonic()
            if remaining > 0:
                self._stop.wait(remaining)
                continue
            try:
                self.seal_window()
            except Exception:
                log.exception("edgedrift: sealing a window failed; its data is lost")
                self._internal_errors += 1
            self._deadline += self.window_s
            if self._deadline < time.monotonic():  # e.g. after a suspend: re-align
                self._deadline = time.monotonic() + self.window_s

    def seal_window(self, final: bool = False) -> dict[str, Any]:
        """Close the open window now, spool it, wake the sender; returns the window body."""
        now = self._now_ms()
        with self._lock:
            w = self._window
            self._window = self._new_window()
            start = self._window_start_ms
            self._window_start_ms = now
            samples, self._samples = self._samples, []
            self._sample_next, self._sample_w = self._sample_k, 1.0
            internal, self._internal_errors = self._internal_errors, 0
            misses, self._label_misses = self._label_misses, 0
        self.spool.count("internal_errors", internal)
        self.spool.count("label_misses", misses)
        body = self._body(w, start, max(now, start), samples)
        if w.n == 0 and not self.send_empty_windows:
            return body
        seq = self.spool.next_seq()
        body["sq"] = seq
        self.spool.append(seq, encode_window(body))
        self.sender.wake.set()
        return body

    def _body(self, w: WindowSketch, start_ms: int, end_ms: int,
              samples: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"v": WIRE_VERSION, "d": self.device_id, "m": self.model,
                                "mv": self.version, "sq": 0, "ws": start_ms, "we": end_ms,
                                "sdk": SDK_NAME}
        if self.model_hash:
            body["mh"] = self.model_hash
        if self.tags:
            body["tg"] = self.tags
        if self.spec is not None:
            body["si"] = self.spec.spec_id
        body.update(as_version(w.body_fields(), self.wire_version))
        if self.wire_version != WIRE_VERSION:
            body["v"] = self.wire_version
        counters = self.spool.counters()
        backlog = self.spool.backlog()[0]
        body["hl"] = {"dp": counters["dropped"], "dc": counters["corrupt"],
                      "rj": counters["rejected"], "ie": counters["internal_errors"],
                      "lm": counters["label_misses"], "sb": backlog,
                      "sk": int(self.sender.clock_skew_ms)}
        if samples:
            cols: list[str] = []
            for row in samples:
                for c in row:
                    if c not in cols and len(cols) < 64:
                        cols.append(c)
            body["sm"] = {"c": cols, "r": [[row.get(c) for c in cols] for row in samples]}
        return body


def _row(features: Any, prediction: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if isinstance(features, dict):
        for name, value in list(features.items())[:63]:
            if type(name) is str and 0 < len(name) <= 64:
                row[name] = _scalar(value)
    row["__prediction__"] = _scalar(prediction)
    return row


def _scalar(value: Any) -> Any:
    t = type(value)
    if t is float:
        return value if math.isfinite(value) else None
    if t is int:
        return value if -(2**63) <= value < 2**63 else None
    if t is bool or value is None:
        return value
    if t is str:
        return category_key(value)
    return None


def _ident(field: str, value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 128 or not value.isprintable():
        raise ConfigError(field, value, "a non-empty printable string of at most 128 characters")
    return value


def _tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict) or len(tags) > 16:
        raise ConfigError("tags", tags, "a dict of at most 16 str -> str segment labels")
    for k, v in tags.items():
        if not isinstance(k, str) or not 0 < len(k) <= 64 or not isinstance(v, str) or len(v) > 64:
            raise ConfigError(f"tags[{k!r}]", v, "a string key and value of at most 64 characters")
    return dict(tags)


def _load_spec(spec: Any) -> Spec | None:
    if spec is None or isinstance(spec, Spec):
        return spec
    if isinstance(spec, dict):
        return Spec.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return Spec.load(spec)
    raise ConfigError("spec", spec, "a path to a spec JSON file, a dict or a Spec")


def _model_hash(model_hash: str | None, model_path: Any) -> str:
    if model_hash is not None:
        if not isinstance(model_hash, str) or len(model_hash) > 128:
            raise ConfigError("model_hash", model_hash, "a string of at most 128 characters")
        return model_hash
    if model_path is None:
        return ""
    digest = hashlib.sha256()
    try:
        with open(model_path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ConfigError("model_path", str(model_path),
                          f"a readable model file ({exc.strerror})") from None
    return "sha256:" + digest.hexdigest()


def _close_at_exit(ref: weakref.WeakMethod) -> None:
    close = ref()
    if close is not None:
        try:
            close()
        except Exception:
            pass
