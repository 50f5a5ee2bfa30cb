"""The alert outbox: a SQLite file (WAL) with alerts, deliveries, attempts and engine state.

An alert and one delivery row per subscribed endpoint are committed in one
transaction *before* any attempt. Each delivery carries its ``webhook_id``
(stable across retries and redeliveries) and the exact body to send.

Claiming a due delivery moves its ``next_attempt_at`` forward by a lease
(the request timeout plus a margin) and counts the attempt, in one
transaction. If the process dies mid-attempt the lease expires and the
delivery is sent again with the same ``webhook-id``; receivers dedupe on it.

Delivery states: ``pending`` (due at ``next_attempt_at``), ``delivered``,
``failed`` (retries exhausted or a non-retryable answer; kept for
``alerts redeliver``), ``disabled`` (its endpoint answered 410 or was
disabled; re-queued by ``alerts enable``).

>>> import tempfile, os
>>> box = Outbox(os.path.join(tempfile.mkdtemp(), "alerts.sqlite"))
>>> with box.transaction() as conn:
...     aid = box.add_alert(conn, "drift.detected", "kws", "1", "", "inc_1",
...                         lambda i: {"type": "drift.detected", "data": {"alert_id": i}},
...                         ["ci"], now=100.0)
>>> [d["status"] for d in box.show(aid)["deliveries"]]
['pending']
>>> [d["endpoint"] for d in box.claim_due("ci", now=100.0, lease_s=20)]
['ci']
>>> box.claim_due("ci", now=101.0, lease_s=20)
[]
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import NotFoundError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
    segment TEXT NOT NULL, incident_id TEXT NOT NULL,
    created_at REAL NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    endpoint TEXT NOT NULL,
    webhook_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'disabled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_status INTEGER, last_error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, delivered_at REAL);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, endpoint, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    started_at REAL NOT NULL, duration_ms REAL NOT NULL,
    status_code INTEGER, error TEXT, outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id);
CREATE TABLE IF NOT EXISTS endpoint_state (
    endpoint TEXT PRIMARY KEY, disabled_at REAL NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS engine_state (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL);
"""


def new_webhook_id() -> str:
    """A random, URL-safe message id (``msg_`` + 26 base32 chars).

    >>> len(new_webhook_id()), new_webhook_id()[:4]
    (30, 'msg_')
    """
    import base64
    return "msg_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def dumps(payload: dict[str, Any]) -> str:
    """The canonical body text (compact, sorted keys, UTF-8 kept)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


class Outbox:
    """Access to the outbox file; safe to use from several threads and processes.

    Each thread gets its own connection. Readers (the dashboard) never block
    writers thanks to WAL. ``durable=False`` (the deliverer) skips the fsync on
    commit: safe against process crashes, and on power loss at worst re-sends.

    >>> import tempfile, os
    >>> Outbox(os.path.join(tempfile.mkdtemp(), "o.sqlite")).list_alerts()
    []
    """

    def __init__(self, path: str | os.PathLike[str], durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.executescript(_SCHEMA)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                     (str(SCHEMA_VERSION),))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss (alerts, engine state). The deliverer's
            # bookkeeping uses NORMAL (survives process crashes; a record lost to power
            # loss only means a re-send with the same webhook-id).
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- writing alerts -------------------------------------------------------------------

    def add_alert(self, conn: sqlite3.Connection, event_type: str, model: str, version: str,
                  segment: str, incident_id: str,
                  payload_for: Callable[[int], dict[str, Any]], endpoints: list[str],
                  now: float | None = None) -> int:
        """Insert an alert and its deliveries inside ``conn``'s transaction; return the alert id."""
        now = time.time() if now is None else now
        cur = conn.execute(
            "INSERT INTO alerts (event_type, model, version, segment, incident_id, created_at,"
            " payload) VALUES (?, ?, ?, ?, ?, ?, '{}')",
            (event_type, model, version, segment, incident_id, now))
        alert_id = int(cur.lastrowid or 0)
        conn.execute("UPDATE alerts SET payload = ? WHERE id = ?",
                     (dumps(payload_for(alert_id)), alert_id))
        disabled = {r[0] for r in conn.execute("SELECT endpoint FROM endpoint_state")}
        for name in endpoints:
            conn.execute(
                "INSERT INTO deliveries (alert_id, endpoint, webhook_id, status, next_attempt_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (alert_id, name, new_webhook_id(),
                 "disabled" if name in disabled else "pending", now, now, now))
        return alert_id

    # -- delivering -----------------------------------------------------------------------

    def claim_due(self, endpoint: str, now: float, lease_s: float,
                  limit: int = 16) -> list[dict[str, Any]]:
        """Lease up to ``limit`` due pending deliveries of ``endpoint`` (oldest due first)."""
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT d.id, d.alert_id, d.endpoint, d.webhook_id, d.attempts, a.payload,"
                " a.event_type FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
                " WHERE d.status = 'pending' AND d.endpoint = ? AND d.next_attempt_at <= ?"
                " AND d.endpoint NOT IN (SELECT endpoint FROM endpoint_state)"
                " ORDER BY d.next_attempt_at, d.id LIMIT ?", (endpoint, now, limit)).fetchall()
            for row in rows:
                conn.execute("UPDATE deliveries SET next_attempt_at = ?, attempts = attempts + 1,"
                             " updated_at = ? WHERE id = ?", (now + lease_s, now, row["id"]))
        return [dict(r, attempts=r["attempts"] + 1) for r in rows]

    def record_attempt(self, delivery_id: int, *, started_at: float, duration_ms: float,
                       status_code: int | None, error: str | None, outcome: str,
                       new_status: str, next_attempt_at: float | None = None) -> None:
        """Log one attempt and move the delivery to its new state, atomically."""
        now = time.time()
        with self.transaction() as conn:
            conn.execute("INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code,"
                         " error, outcome) VALUES (?, ?, ?, ?, ?, ?)",
                         (delivery_id, started_at, duration_ms, status_code, error, outcome))
            conn.execute(
                "UPDATE deliveries SET status = ?, next_attempt_at = COALESCE(?, next_attempt_at),"
                " last_status = ?, last_error = ?, updated_at = ?,"
                " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
                " WHERE id = ?",
                (new_status, next_attempt_at, status_code, error, now, new_status, now,
                 delivery_id))

    def next_due(self, endpoint: str) -> float | None:
        """When ``endpoint``'s next pending delivery falls due (None if there is none)."""
        row = self._conn().execute(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'"
            " AND endpoint = ?", (endpoint,)).fetchone()
        return None if row[0] is None else float(row[0])

    # -- endpoints ------------------------------------------------------------------------

    def disable_endpoint(self, endpoint: str, reason: str) -> None:
        """Stop delivering to ``endpoint``; its pending deliveries become ``disabled``."""
        now = time.time()
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO endpoint_state VALUES (?, ?, ?)",
                         (endpoint, now, reason))
            conn.execute("UPDATE deliveries SET status = 'disabled', updated_at = ?"
                         " WHERE endpoint = ? AND status = 'pending'", (now, endpoint))

    def enable_endpoint(self, endpoint: str) -> int:
        """Re-enable ``endpoint`` and re-queue its disabled deliveries; return how many."""
        now = time.time()
        with self.transaction() as conn:
            conn.execute("DELETE FROM endpoint_state WHERE endpoint = ?", (endpoint,))
            cur = conn.execute("UPDATE deliveries SET status = 'pending', attempts = 0,"
                               " next_attempt_at = ?, updated_at = ?"
                               " WHERE endpoint = ? AND status = 'disabled'",
                               (now, now, endpoint))
            return cur.rowcount

    def disabled_endpoints(self) -> dict[str, str]:
        """``{endpoint: reason}`` for every disabled endpoint."""
        return {r[0]: r[1] for r in self._conn().execute(
            "SELECT endpoint, reason FROM endpoint_state")}

    # -- engine state ---------------------------------------------------------------------

    def load_state(self, conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT state FROM engine_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def save_state(self, conn: sqlite3.Connection, key: str, state: dict[str, Any]) -> None:
        conn.execute("INSERT OR REPLACE INTO engine_state VALUES (?, ?, ?)",
                     (key, json.dumps(state, sort_keys=True), time.time()))

    # -- reading (CLI, dashboard) ---------------------------------------------------------

    def list_alerts(self, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
        """Newest alerts first, each with a per-status count of its deliveries."""
        sql = ("SELECT a.id, a.event_type, a.model, a.version, a.segment, a.created_at,"
               " SUM(d.status = 'pending') AS pending, SUM(d.status = 'delivered') AS delivered,"
               " SUM(d.status = 'failed') AS failed, SUM(d.status = 'disabled') AS disabled"
               " FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id GROUP BY a.id")
        params: list[Any] = []
        sql = f"SELECT * FROM ({sql})"
        if status:
            sql += f" WHERE {_status_column(status)} > 0"
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [dict(r) for r in self._conn().execute(sql, params)]

    def show(self, alert_id: int) -> dict[str, Any]:
        """One alert with its payload, deliveries and every attempt."""
        conn = self._conn()
        row = conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise NotFoundError("alert", alert_id)
        alert = dict(row)
        alert["payload"] = json.loads(alert["payload"])
        deliveries = []
        for d in conn.execute("SELECT * FROM deliveries WHERE alert_id = ? ORDER BY id",
                              (alert_id,)):
            d = dict(d)
            d["attempt_log"] = [dict(a) for a in conn.execute(
                "SELECT started_at, duration_ms, status_code, error, outcome FROM attempts"
                " WHERE delivery_id = ? ORDER BY id", (d["id"],))]
            deliveries.append(d)
        alert["deliveries"] = deliveries
        return alert

    def redeliver(self, alert_id: int, include_delivered: bool = False,
                  now: float | None = None) -> int:
        """Re-queue an alert's failed (and, if asked, delivered) deliveries with their ids."""
        now = time.time() if now is None else now
        statuses = ("failed", "pending", "delivered") if include_delivered else (
            "failed", "pending")
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is None:
                raise NotFoundError("alert", alert_id)
            marks = ",".join("?" * len(statuses))
            cur = conn.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                f" updated_at = ? WHERE alert_id = ? AND status IN ({marks})",
                (now, now, alert_id, *statuses))
            return cur.rowcount

    def counts(self) -> dict[str, int]:
        """Deliveries per status."""
        return {r[0]: r[1] for r in self._conn().execute(
            "SELECT status, COUNT(*) FROM deliveries GROUP BY status")}


def _status_column(status: str) -> str:
    allowed = ("pending", "delivered", "failed", "disabled")
    if status not in allowed:
        raise ValueError(f"--status: got {status!r}, expected one of {', '.join(allowed)}")
    return status
