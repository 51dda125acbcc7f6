"""A local S3-compatible server for the benchmarks (moto in server mode, its own process):
`--store s3` in bench/download.py and bench/restore_throughput.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid

REGION = "eu-west-1"
CREDENTIALS = {"BLOB_S3_ACCESS_KEY_ID": "bench", "BLOB_S3_SECRET_ACCESS_KEY": "bench-secret"}


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the server, create a bucket, and point `env`'s blob store at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["BLOB_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["BLOB_S3_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    env.update(
        {
            "BLOB_STORE_URL": f"s3://{bucket}/blobs",
            "BLOB_S3_ENDPOINT_URL": endpoint,
            "BLOB_S3_REGION": REGION,
            **CREDENTIALS,
        }
    )
    return process
