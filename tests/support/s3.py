"""A real local S3 endpoint for tests: moto in server mode, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from .local import environment, free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_server() -> Iterator[str]:
    """Yields the endpoint URL; sets AWS_* in this process (and so for subprocesses) meanwhile."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with environment(**CREDENTIALS, AWS_ENDPOINT_URL=endpoint):
            yield endpoint
    finally:
        server.stop()


def make_bucket(endpoint: str, name: str, object_lock: bool = False) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        **{k.lower(): v for k, v in CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
    return client
