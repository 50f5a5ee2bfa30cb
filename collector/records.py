"""The record the gateway hands to Kafka (or, embedded, straight to the sink).

Kafka record key = device id (UTF-8) so one device's windows stay ordered in
one partition; value = msgpack map::

    {"v": 1, "r": received_at_ms, "t": sent_at_s, "w": <window body bytes>}

The signature is checked by the gateway and not carried further. The window
body is the SDK's bytes, untouched, and is decoded downstream with
:func:`edge_sdk.wire.decode_window` (the one parser).

>>> rec = IngestRecord("dev-1", b"\\x80", sent_at_s=1_700_000_000, received_at_ms=1_700_000_000_250)
>>> IngestRecord.from_kafka(rec.kafka_key(), rec.kafka_value()) == rec
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from edge_sdk.errors import WireError
from edge_sdk.wire import DEFAULT_LIMITS, safe_unpackb

try:    # the optional C accelerator (setup.py): the envelope parsed without msgpack objects
    from ._sinkfast import parse_record as _parse_record
except ImportError:
    _parse_record = None

RECORD_VERSION = 1
_MAX_MS = 2**63 - 1


@dataclass(frozen=True)
class IngestRecord:
    """One accepted window on its way from the gateway to the sink."""

    device_id: str
    window: bytes | memoryview     # from_kafka: a view into the record value, not a copy
    sent_at_s: int
    received_at_ms: int
    # The window as the gateway's validate_window already decoded and accepted it, when it
    # is handed over in-process (the embedded sink skips re-decoding); never sent to Kafka.
    decoded: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # The window bytes passed validate_window in one of this gateway's helper processes (the
    # embedded sink decodes them again but skips re-proving them); never sent to Kafka.
    validated: bool = field(default=False, compare=False, repr=False)

    def kafka_key(self) -> bytes:
        return self.device_id.encode()

    def kafka_value(self) -> bytes:
        return msgpack.packb({"v": RECORD_VERSION, "r": self.received_at_ms,
                              "t": self.sent_at_s, "w": self.window}, use_bin_type=True)

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes) -> IngestRecord:
        """Decode a Kafka record; raises :class:`WireError` (-> dead-letter topic) if malformed."""
        parsed = None
        if _parse_record is not None and type(value) is bytes:   # the C fast path
            parsed = _parse_record(value, DEFAULT_LIMITS.max_bin_len)
        w: bytes | memoryview
        if parsed is not None:
            r, t, start, end = parsed
            w = memoryview(value)[start:end]     # no copy (a 4 KB copy costs ~1 us)
        else:
            obj = safe_unpackb(value, DEFAULT_LIMITS, "record", check_depth=False)
            if not isinstance(obj, dict) or obj.get("v") != RECORD_VERSION:
                raise WireError("record.v", f"an ingest record map with v={RECORD_VERSION}")
            raw_w, r, t = obj.get("w"), obj.get("r"), obj.get("t")
            if type(raw_w) is not bytes or type(r) is not int or type(t) is not int \
                    or not 0 <= r <= _MAX_MS or not 0 <= t <= _MAX_MS // 1000:
                raise WireError("record", "w bytes, r int (received ms), t int (sent s), "
                                          "times below 2^63 ms")
            w = raw_w
        try:
            device = key.decode() if key else ""
        except UnicodeDecodeError:
            raise WireError("record.key", "a UTF-8 device id") from None
        return cls(device, w, t, r)
