"""``edgedrift init``: write a commented starter config (TOML) with every section.

The file is meant for a first deployment on one machine (docs/getting-started.md): an
embedded gateway, analysis windows short enough to show results within minutes, and an
alert endpoint on this machine (``edgedrift webhook listen --config FILE``) with a freshly
generated ``whsec_`` secret. Every other setting is listed, commented out, at its default.
Standard library only, so it runs on the base install too.

>>> text = render(webhook_secret="whsec_AAAA")
>>> import tomllib; doc = tomllib.loads(text)
>>> from edgedrift.config import SECTIONS
>>> sorted(doc) == sorted(SECTIONS)
True
>>> doc["alerts"]["endpoints"][0]["secrets"]
['whsec_AAAA']
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets

from .command import CommandError

DEFAULT_PATH = "edgedrift.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH,
                        help=f"file to write (default {DEFAULT_PATH})")
    parser.add_argument("--force", action="store_true",
                        help="overwrite the file if it exists (its webhook secret is replaced)")


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def render(webhook_secret: str) -> str:
    """The config file's text (every section; settings at their defaults are commented)."""
    return TEMPLATE.replace("@WEBHOOK_SECRET@", webhook_secret)


def run(args: argparse.Namespace) -> int:
    path = args.path
    if os.path.exists(path) and not args.force:
        raise CommandError(f"{path} already exists; keep it, or overwrite it (and its webhook "
                           f"secret) with `edgedrift init {path} --force`")
    text = render(new_webhook_secret())
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o600)        # it holds a signing secret
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    print(f"wrote {path} (mode 0600: it holds the webhook secret). Next:\n"
          f"  export EDGEDRIFT_CONFIG={os.path.abspath(path)}\n"
          "  edgedrift keys add my-device-1\n"
          "  edgedrift gateway\n"
          "  (docs/getting-started.md walks through the rest)")
    return 0


TEMPLATE = """\
# edgedrift configuration, written by `edgedrift init`.
#
# One file for every component: each command reads the section of the same name
# (`--config FILE` or EDGEDRIFT_CONFIG=FILE). Precedence: this file < environment variables
# EDGEDRIFT_<SECTION>_<FIELD> < command-line flags. Unknown sections and settings are errors.
# Keys, Parquet, the analytics database and the alert outbox live under --data-dir
# (default ./edgedrift-data). Settings shown commented out are at their defaults.
# The reference for every setting: docs/collector.md, docs/analytics.md, docs/alerts.md.

[gateway]
# Devices POST signed windows here (docs/collector.md). Without `kafka` the gateway writes
# Parquet itself (embedded mode, one machine); with it, it produces to the [kafka] topic
# and `edgedrift sink` processes write the Parquet.
host = "127.0.0.1"                 # "0.0.0.0" to accept devices from the network
port = 8080
# kafka = "127.0.0.1:9092"         # Kafka bootstrap servers
# tls_cert = "/etc/edgedrift/tls.crt"   # HTTPS (with tls_key); or terminate TLS in front
# tls_key = "/etc/edgedrift/tls.key"
# keys_path = ""                   # key registry (default <data-dir>/keys.json)
# max_batch = 500                  # windows per request
# skew_s = 300                     # accepted clock skew of a device's timestamp
# rate_per_s = 50.0                # per-device request rate (token bucket) ...
# rate_burst = 1000.0              # ... and its burst

[kafka]
# Used by `edgedrift gateway --kafka` and `edgedrift sink --kafka` only.
# bootstrap = "127.0.0.1:9092"
# topic = "edgedrift.windows"
# dlq_topic = "edgedrift.windows.dlq"
# group_id = "edgedrift-sink"      # sinks of one dataset share it
# partitions = 6                   # when the topic is created: the sinks' parallelism
# replication_factor = 1

[sink]
# The Parquet writer (in the gateway in embedded mode, or `edgedrift sink`).
# dataset = ""                     # default <data-dir>/telemetry; or a shared path
# roll_ms = 60000                  # a batch file is closed at most this long after opening
# compression = "zstd"
# sketch_sums = true               # each batch's rows summed too: what the roll-ups read
sums_grain_s = 120                 # summed per this many seconds: a divisor of [analytics]
#                                  # window_s (default 3600, the analysis default)

[compact]
# `edgedrift compact` merges the small batch files of closed days (e.g. daily from cron).
# min_age_s = 600.0                # leave batch files younger than this alone

[storage]
# Where the Parquet dataset lives, for every component (docs/operations.md). Empty: the
# data dir's `telemetry` folder. An S3-compatible bucket needs `pip install 'edgedrift[s3]'`
# and credentials in the usual AWS_* environment variables.
# uri = "s3://edgedrift/telemetry"
# endpoint_url = "http://127.0.0.1:9000"   # MinIO and the like; omit on AWS
# region = ""

[analytics]
# `edgedrift analyze`: evaluation windows, tests and verdicts (docs/analytics.md).
# Short windows so a first try shows results within minutes: a window is analysed once it
# is closed, i.e. `grace_s` after its end. For production, hourly windows are typical:
# window_s = 3600, grace_s = 300 (or calendar windows: window = "1h" / "1d").
window_s = 120
grace_s = 30
schedule_s = 60                    # `edgedrift analyze --every` default
segment_tags = ["firmware"]        # one verdict per value of these device tags
min_samples = 200                  # values needed in a window before a verdict
# include_open_windows = false     # also compute the still-open current window
# rollups = true                   # passes read merged roll-ups (docs/analytics.md)
# timezone = "UTC"                 # where days, weeks and months begin (calendar windows)
# reports = true                   # Evidently report when a verdict turns to drift
#                                  # (needs row samples from the SDK: Monitor(sample_rows=...))

[alerts]
# Verdict changes become signed webhooks (docs/alerts.md). Without [[alerts.endpoints]]
# nothing is sent; without [[alerts.policies]] every kind alerts with its defaults.
cooldown_s = 900                   # an incident resolves after this long without firing
allow_loopback = true              # the endpoint below is on this machine; remove in
                                   # production (webhooks to 127.0.0.1 are refused otherwise)
# allow_private_networks = false   # allow 10.x / 172.16.x / 192.168.x endpoints
# dashboard_url = "http://localhost:8501"   # linked from every alert
# retry_schedule_s = [5, 300, 1800, 7200, 18000, 36000, 36000]

[[alerts.policies]]
kind = "drift"

[[alerts.policies]]
kind = "quality"

[[alerts.endpoints]]
# `edgedrift webhook listen --config THIS_FILE` is a verifying receiver for this endpoint;
# point `url` at your own service (it must check the signature: docs/alerts.md).
name = "local-receiver"
url = "http://127.0.0.1:8787/hooks/edgedrift"
# The signing secret, generated for this file. To keep it out of the file, write
# "env:NAME" to read it from the environment variable NAME instead.
secrets = ["@WEBHOOK_SECRET@"]

[dashboard]
# `edgedrift dashboard` (Streamlit).
host = "127.0.0.1"
port = 8501
# refresh_s = 30.0                 # pages refresh this often
"""
