"""A local S3-compatible server for the benchmarks, its own process: `--store s3` in
bench/download.py and bench/restore_throughput.py, and bench/blob_store.py.

BENCH_S3_SERVER picks it: `moto` (default; moto in server mode, Python) or `s3rver`
(npm's s3rver, a Node server storing objects as files; installed on first use into
var/bench-node with npm). Both speak S3 over HTTP exactly as AWS does to boto3; neither is
a production store — they bound what the S3 figures can show, so the benchmark names the
server beside each figure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REGION = "eu-west-1"
CREDENTIALS = {"BLOB_S3_ACCESS_KEY_ID": "bench", "BLOB_S3_SECRET_ACCESS_KEY": "bench-secret"}


NODE = Path(__file__).resolve().parent.parent / "var" / "bench-node"
S3RVER = "s3rver@3.7.1"


def name() -> str:
    return os.environ.get("BENCH_S3_SERVER", "moto")


def _command(port: int) -> list[str]:
    if name() == "s3rver":
        binary = NODE / "node_modules" / ".bin" / "s3rver"
        if not binary.exists():
            subprocess.run(
                ["npm", "install", "--no-save", "--silent", "--prefix", str(NODE), S3RVER],
                check=True,
            )
        store = tempfile.mkdtemp(prefix="lifeboat-s3rver-")
        return [str(binary), "--address", "127.0.0.1", "--port", str(port),
                "--directory", store, "--silent"]  # fmt: skip
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start the server, create a bucket, and point `env`'s blob store at it."""
    credentials = CREDENTIALS
    if name() == "s3rver":  # s3rver checks signatures against its one built-in key pair
        credentials = {"BLOB_S3_ACCESS_KEY_ID": "S3RVER", "BLOB_S3_SECRET_ACCESS_KEY": "S3RVER"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        aws_access_key_id=credentials["BLOB_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["BLOB_S3_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    env.update(
        {
            "BLOB_STORE_URL": f"s3://{bucket}/blobs",
            "BLOB_S3_ENDPOINT_URL": endpoint,
            "BLOB_S3_REGION": REGION,
            **credentials,
        }
    )
    return process
