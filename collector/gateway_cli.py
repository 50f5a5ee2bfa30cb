"""``edgedrift gateway``: run the HTTP ingest gateway under uvicorn.

Without ``--kafka`` (or ``[gateway] kafka``) the gateway writes through the
embedded Parquet sink in-process and answers after the write; with it, it
produces to the ``[kafka]`` topic and answers after the broker's ack.
"""

from __future__ import annotations

import argparse
import logging
import os

from edgedrift.command import CommandError, ensure_port_free
from edgedrift.config import build_config, load_toml, section
from edgedrift.paths import DataPaths

from .activity_log import ActivityLog
from .arrow_memory import use_system_pool
from .gateway_config import GatewayConfig
from .gc_tuning import tune_for_service

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8080)")
    parser.add_argument("--kafka", metavar="HOST:PORT",
                        help="Kafka bootstrap servers; omit to write Parquet in-process")
    parser.add_argument("--tls-cert", metavar="PEM", help="TLS certificate (with --tls-key)")
    parser.add_argument("--tls-key", metavar="PEM", help="TLS private key (with --tls-cert)")


def check_startable(cfg: GatewayConfig) -> None:
    """One line naming what stops the gateway from starting: its port in use, a TLS file
    that does not exist."""
    ensure_port_free(cfg.host, cfg.port)   # one line naming the port, before "ready"
    for flag, pem in (("--tls-cert", cfg.tls_cert), ("--tls-key", cfg.tls_key)):
        if pem and not os.path.isfile(pem):
            raise CommandError(f"{flag} {pem}: no such file (a PEM file; or leave TLS to a "
                               "proxy in front and omit --tls-cert/--tls-key)")


def build_gateway(args: argparse.Namespace):  # -> (GatewayConfig, Starlette app)
    """Config objects and the ASGI app, built from the TOML file and the command line."""
    from .backend import Backend
    from .gateway import create_app
    from .keys import KeyRegistry
    from .metrics import GatewayMetrics
    from .replay_store import persist

    toml = load_toml(args.config)
    cfg = build_config(GatewayConfig, section(toml, "gateway"),
                       {"host": args.host, "port": args.port, "kafka": args.kafka,
                        "tls_cert": args.tls_cert, "tls_key": args.tls_key}, section="gateway")
    check_startable(cfg)     # before the sink or producer start (their logs, their files)
    paths = DataPaths(args.data_dir)
    registry = KeyRegistry(cfg.keys_path or paths.keys, cfg.key_reload_s)
    metrics = GatewayMetrics()
    backend: Backend
    if cfg.kafka:
        from .kafka_backend import KafkaBackend
        from .sink_config import KafkaConfig

        kafka = build_config(KafkaConfig, section(toml, "kafka"), {"bootstrap": cfg.kafka},
                             section="kafka")
        backend = KafkaBackend(kafka.bootstrap, kafka.topic, cfg.produce_timeout_s,
                               cfg.retry_after_s, metrics, partitions=kafka.partitions,
                               replication_factor=kafka.replication_factor,
                               producer_config={"compression_type": kafka.compression_type()})
    else:
        from .embedded import EmbeddedBackend, EmbeddedSink
        from .sink_config import SinkConfig
        from .storage import configure_from

        sink_values = dict(section(toml, "sink"))
        sink_values.setdefault("dataset", configure_from(toml).uri or str(paths.dataset))
        sink_cfg = build_config(SinkConfig, sink_values, section="sink")
        backend = EmbeddedBackend(EmbeddedSink(sink_cfg), cfg.produce_timeout_s,
                                  cfg.retry_after_s, metrics)
    app = create_app(cfg, registry, backend, metrics)
    persist(app.state.gateway.auth, paths.base / "replay")   # the replay cache survives restarts
    return cfg, app


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from .conn_guard import ConnectionGuard, protocol_class, raise_fd_limit

    use_system_pool()       # before the embedded sink allocates (see arrow_memory)
    cfg, app = build_gateway(args)
    tune_for_service()      # full collections were most of the p99 accept latency
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("kafka").setLevel(logging.WARNING)   # per-connection INFO chatter
    fds = raise_fd_limit(cfg.max_connections + 256)   # + files, the broker, the sink
    if fds < cfg.max_connections + 64:
        log.warning("max_connections = %d but the open-file limit is %d: lower "
                    "[gateway] max_connections or raise `ulimit -n`", cfg.max_connections, fds)
    guard = ConnectionGuard(cfg.connection_limits())
    app.state.gateway.metrics.connections = guard   # /metrics shows its drops
    log.info("gateway on %s://%s:%d (%s)", "https" if cfg.tls else "http", cfg.host, cfg.port,
             f"Kafka {cfg.kafka}" if cfg.kafka else "embedded Parquet sink")
    server = uvicorn.Server(uvicorn.Config(
        app, host=cfg.host, port=cfg.port, ssl_certfile=cfg.tls_cert, ssl_keyfile=cfg.tls_key,
        log_config=None, access_log=False, lifespan="on", http=protocol_class(guard),
        limit_concurrency=None, timeout_keep_alive=int(max(1, cfg.keep_alive_s)),
        backlog=min(cfg.max_connections, 4096), server_header=False, proxy_headers=False))
    activity = ActivityLog(app.state.gateway.metrics)   # one INFO line per 10 s of traffic
    activity.start()
    try:
        server.run()
    finally:
        activity.stop()
    return 0
