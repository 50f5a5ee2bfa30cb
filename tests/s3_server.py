"""A real S3-compatible HTTP server for the tests: moto in server mode, on a free port.

The storage tests run the dataset on it through pyarrow's S3 file system (and boto3 for the
compaction lease's conditional writes), exactly as against MinIO or AWS: only the endpoint
differs. moto keeps objects in memory in this process; processes the tests kill are its
clients, so a kill loses what a real client's crash would lose.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "edgedrift-test", "AWS_SECRET_ACCESS_KEY": "edgedrift-test",
               "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def running_s3() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto S3 server running until the block ends."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket(endpoint: str) -> str:
    """Create an empty bucket with a fresh name and return the name."""
    import boto3

    name = f"edgedrift-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).create_bucket(
        Bucket=name)
    return name
