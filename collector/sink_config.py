"""Settings of the Kafka connection (``[kafka]``) and of the Parquet sink (``[sink]``).

Both are frozen and built once in ``main()`` with :func:`edgedrift.config.build_config`;
a bad value is refused at start-up with the field's name.

>>> cfg = SinkConfig(dataset="/tmp/ds", offsets_per_file=1000)
>>> cfg.offsets_per_file, cfg.roll_ms, cfg.compression
(1000, 60000, 'zstd')
>>> KafkaConfig(bootstrap="127.0.0.1:9092").topic
'edgedrift.windows'
>>> KafkaConfig(bootstrap="localhost")
Traceback (most recent call last):
...
ValueError: bootstrap: got 'localhost', expected HOST:PORT[,HOST:PORT...]
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TOPIC = "edgedrift.windows"
DEFAULT_DLQ_TOPIC = "edgedrift.windows.dlq"
SUMS_GRAIN_S = 3600    # the sketch sums' grain: the analysis's default window (analytics/config.py)
COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "none")
KAFKA_COMPRESSIONS = ("zstd", "lz4", "snappy", "gzip", "none")


def _positive(name: str, value: float, what: str) -> None:
    if isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}: got {value!r}, expected a positive {what}")


def check_bootstrap(value: str, name: str = "bootstrap") -> str:
    """Validate ``HOST:PORT[,HOST:PORT...]`` and return it unchanged."""
    for part in value.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{name}: got {value!r}, expected HOST:PORT[,HOST:PORT...]")
    return value


@dataclass(frozen=True)
class KafkaConfig:
    """Where the windows topic lives and how the sink's consumer group behaves.

    ``partitions`` is used when the sink (or gateway) creates a missing topic;
    it is the sink's unit of parallelism.
    """

    bootstrap: str = "127.0.0.1:9092"
    topic: str = DEFAULT_TOPIC
    dlq_topic: str = DEFAULT_DLQ_TOPIC
    partitions: int = 6
    replication_factor: int = 1
    group_id: str = "edgedrift-sink"
    client_id: str = "edgedrift-sink"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    max_poll_records: int = 2_000
    fetch_max_bytes: int = 52_428_800
    # A sink that keeps up would otherwise fetch a few records at a time (the broker answers
    # as soon as any arrive): waiting for 256 KB or 200 ms cut its CPU per window at 4,000
    # windows/s from ~100 to ~85 us, for at most 200 ms more end-to-end latency.
    fetch_min_bytes: int = 262_144
    fetch_max_wait_ms: int = 200
    request_timeout_ms: int = 30_000
    # How long a client tries to reach any bootstrap server before it gives up (an unreachable
    # broker: `edgedrift sink` exits with one line naming it after this long).
    bootstrap_timeout_ms: int = 30_000
    # Compression of the record batches the gateway (and the sink's dead-letter producer)
    # sends. zstd: ~6 us per 4 KB window to compress, ratio ~9.7 on realistic windows;
    # kafka-python's gzip is level 9: ~250 us per window (most of a gateway's CPU), ratio 3.6.
    compression: str = "zstd"

    def __post_init__(self) -> None:
        check_bootstrap(self.bootstrap)
        for name in ("topic", "dlq_topic", "group_id", "client_id"):
            if not getattr(self, name):
                raise ValueError(f"{name}: got '', expected a non-empty name")
        if self.topic == self.dlq_topic:
            raise ValueError(f"dlq_topic: got {self.dlq_topic!r}, expected a topic other "
                             "than the windows topic")
        for name in ("partitions", "replication_factor", "session_timeout_ms",
                     "heartbeat_interval_ms", "max_poll_interval_ms", "max_poll_records",
                     "fetch_max_bytes", "fetch_min_bytes", "fetch_max_wait_ms",
                     "request_timeout_ms", "bootstrap_timeout_ms"):
            _positive(name, getattr(self, name), "integer")
        if self.compression not in KAFKA_COMPRESSIONS:
            raise ValueError(f"compression: got {self.compression!r}, expected one of "
                             f"{', '.join(KAFKA_COMPRESSIONS)}")

    def compression_type(self) -> str | None:
        """kafka-python's ``compression_type`` (None for "none"); raises ValueError naming the
        field when the codec's package is missing (zstd needs zstandard, lz4 needs lz4).

        >>> KafkaConfig(compression="none").compression_type() is None
        True
        """
        if self.compression == "none":
            return None
        from kafka import codec

        if not getattr(codec, f"has_{self.compression}")():
            package = {"zstd": "zstandard", "lz4": "lz4", "snappy": "python-snappy"}.get(
                self.compression, self.compression)
            raise ValueError(f"compression: {self.compression!r} needs the {package} package "
                             "(pip install 'edgedrift[server]'), or choose another codec")
        return self.compression


@dataclass(frozen=True)
class SinkConfig:
    """How windows become Parquet files.

    Batch boundaries are a function of the records only, so a replay after a
    crash writes exactly the same files: a batch of one partition ends before
    an offset that is a multiple of ``offsets_per_file`` and before a record
    whose receive time falls in another ``roll_ms`` bucket. When a partition
    is caught up (nothing more to read), its batch is also written once it has
    been quiet for ``idle_flush_ms`` or open for ``flush_after_ms`` (wall
    clock, 0 = off; this bounds the end-to-end latency at low traffic). Such a
    boundary is recorded in the file name and honoured on replay, so it never
    causes a duplicate.

    Embedded sink: concurrent ``write()`` calls are grouped into one file set until
    the oldest waits ``group_commit_ms`` or ``group_commit_records`` records wait
    (a busy gateway's requests form groups while the previous group is written).

    Exactly one row per window (:mod:`collector.seq_guard`): ``seq_max_gaps`` holes
    remembered per (device, model); the written-window state is snapshotted at most every
    ``seq_snapshot_s`` seconds (a restart reads the rows written since the snapshot).

    ``sketch_sums``: also write each batch's feature and category rows summed per
    (version, start, tags, feature) (collector/sketch_sums.py), which the analysis's
    roll-ups read instead of every window's rows; off, roll-ups read the rows (slower).
    The start is the window start floored to ``sums_grain_s`` seconds: a roll-up uses the
    sums when its evaluation window (``[analytics] window_s``) is a multiple of it, so
    keep it a divisor of the analysis window (the default: the analysis's default, an
    hour); a coarser grain reduces more.
    """

    dataset: str = "./edgedrift-data/telemetry"
    offsets_per_file: int = 50_000
    roll_ms: int = 60_000
    idle_flush_ms: int = 1_000
    flush_after_ms: int = 2_000
    compression: str = "zstd"
    group_commit_ms: float = 5.0
    group_commit_records: int = 2_000
    tmp_max_age_s: int = 3_600
    poll_timeout_ms: int = 200
    seq_max_gaps: int = 32
    seq_snapshot_s: float = 30.0
    sketch_sums: bool = True
    sums_grain_s: int = SUMS_GRAIN_S

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError("dataset: got '', expected a directory path")
        for name in ("offsets_per_file", "roll_ms", "group_commit_records", "tmp_max_age_s",
                     "poll_timeout_ms"):
            _positive(name, getattr(self, name), "integer")
        for name in ("idle_flush_ms", "flush_after_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: got {getattr(self, name)}, expected >= 0 (0 = off)")
        if isinstance(self.seq_max_gaps, bool) or not isinstance(self.seq_max_gaps, int) \
                or self.seq_max_gaps < 0:
            raise ValueError(f"seq_max_gaps: got {self.seq_max_gaps!r}, expected an integer "
                             ">= 0 (holes remembered per device and model)")
        if isinstance(self.seq_snapshot_s, bool) or self.seq_snapshot_s < 0:
            raise ValueError(f"seq_snapshot_s: got {self.seq_snapshot_s!r}, expected seconds "
                             ">= 0 (0 = a snapshot after every commit)")
        if not isinstance(self.sketch_sums, bool):
            raise ValueError(f"sketch_sums: got {self.sketch_sums!r}, expected true or false")
        grain = self.sums_grain_s
        if isinstance(grain, bool) or not isinstance(grain, int) or grain < 60 \
                or grain % 60 or 86_400 % grain:
            raise ValueError(f"sums_grain_s: got {grain!r}, expected whole minutes dividing a "
                             "day (60, 300, 900, 3600 ... 86400) and dividing the analysis "
                             "window ([analytics] window_s)")
        if self.group_commit_ms < 0:
            raise ValueError(f"group_commit_ms: got {self.group_commit_ms}, expected >= 0")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression: got {self.compression!r}, expected one of "
                             f"{', '.join(COMPRESSIONS)}")
