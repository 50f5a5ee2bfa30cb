"""``edgedrift sink``: run one Kafka -> Parquet sink worker of a consumer group.

Settings come from ``[kafka]`` and ``[sink]`` in the TOML config, then the
flags below. Run several with the same ``group_id`` to share the partitions.
SIGTERM/SIGINT stop it; records not yet in a committed batch are replayed by
the next run into the same files.

Also runnable as ``python -m collector.sink_cli ...``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from edgedrift.command import CommandError
from edgedrift.config import build_config, load_toml, section
from edgedrift.paths import DataPaths

from .arrow_memory import use_system_pool
from .gc_tuning import tune_for_service
from .sink_config import KafkaConfig, SinkConfig

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kafka", metavar="HOST:PORT",
                        help="bootstrap servers ([kafka] bootstrap)")
    parser.add_argument("--topic", help="windows topic ([kafka] topic)")
    parser.add_argument("--group-id", help="consumer group ([kafka] group_id)")
    parser.add_argument("--partitions", type=int, help="partitions when creating the topic")
    parser.add_argument("--dataset", metavar="PATH",
                        help="Parquet dataset root (default <data-dir>/telemetry)")


def build_configs(args: argparse.Namespace) -> tuple[KafkaConfig, SinkConfig]:
    toml = load_toml(args.config)
    kafka_section = section(toml, "kafka")
    if not (args.kafka or kafka_section.get("bootstrap")
            or os.environ.get("EDGEDRIFT_KAFKA_BOOTSTRAP")):
        raise ValueError("--kafka: expected HOST:PORT of the broker (or [kafka] bootstrap in "
                         "--config); without Kafka the gateway writes Parquet itself")
    kafka = build_config(KafkaConfig, kafka_section,
                         {"bootstrap": args.kafka, "topic": args.topic, "group_id": args.group_id,
                          "partitions": args.partitions}, section="kafka")
    sink_section = dict(section(toml, "sink"))
    from .storage import configure_from

    sink_section.setdefault("dataset", configure_from(toml).uri
                            or str(DataPaths(args.data_dir).dataset))
    sink = build_config(SinkConfig, sink_section, {"dataset": args.dataset}, section="sink")
    return kafka, sink


def run(args: argparse.Namespace) -> int:
    from .kafka_sink import KafkaSinkWorker, wait_forever

    kafka, config = build_configs(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    use_system_pool()
    tune_for_service()
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("kafka").setLevel(logging.WARNING)   # ~80 INFO lines at start
    from kafka.errors import KafkaError

    try:
        worker = KafkaSinkWorker(kafka, config)
        log.info("sink: %s %s -> %s (group %s)", kafka.bootstrap, kafka.topic, config.dataset,
                 kafka.group_id)
        wait_forever(stop, worker)
    except KafkaError as exc:
        raise CommandError(f"cannot use the Kafka broker at {kafka.bootstrap} ({exc}); "
                           "check --kafka / [kafka] bootstrap and that the broker is up") from None
    log.info("sink stopped: %s", worker.stats())
    return 0


if __name__ == "__main__":      # the `edgedrift sink` command, by the dispatcher
    import runpy

    sys.argv[1:1] = ["sink"]
    runpy.run_module("edgedrift", run_name="__main__")
