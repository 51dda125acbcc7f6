"""Benchmark: the blob store alone, sealed vs plaintext, file vs S3 (issue 21).

Writes and reads back `--mb` MB (items of `--item-mb`) through `restore.blobs`: sealed on
files, sealed on S3 (a local moto server, its own process), and the plaintext baseline,
which is what the store did before sealing (hash while writing to a temporary file,
fsync, rename; read back in 1 MiB chunks). Variants alternate, `--runs` rounds; prints
median and range of MB/s for put and for read.

    .venv/bin/python bench/blob_store.py [--mb 256] [--item-mb 4] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("LIFEBOAT_VAR_DIR", tempfile.mkdtemp(prefix="lifeboat-blob-bench-var-"))

from bench import s3_server  # noqa: E402

MB = 1024 * 1024


def plaintext_put(root: Path, data: bytes) -> str:
    """The store before sealing (restore/blobs.py on main), inlined as the baseline."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=root)
    with os.fdopen(fd, "wb") as out:
        for start in range(0, len(data), MB):
            chunk = data[start : start + MB]
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    name = digest.hexdigest()
    final = root / name[:2] / name[2:4] / name
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    return name


def plaintext_read(root: Path, name: str) -> int:
    with (root / name[:2] / name[2:4] / name).open("rb") as stream:
        return sum(len(c) for c in iter(lambda: stream.read(MB), b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--item-mb", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env: dict[str, str] = {}
    moto = s3_server.start(env)
    try:
        import django

        django.setup()
        from django.conf import settings

        from restore.blobs import blob_store, iter_chunks

        count = args.mb // args.item_mb
        tenant = "11111111-1111-1111-1111-111111111111"
        results: dict[str, dict[str, list[float]]] = {}
        print("S3 server:", s3_server.name())
        print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
        for run in range(args.runs):
            items = [os.urandom(args.item_mb * MB) for _ in range(count)]
            for variant in ("plaintext-file", "sealed-file", "sealed-s3"):
                work = Path(tempfile.mkdtemp(prefix="lifeboat-blob-bench-"))
                if variant == "sealed-s3":
                    settings.BLOB_STORE_URL = env["BLOB_STORE_URL"]
                    for name in ("BLOB_S3_ENDPOINT_URL", "BLOB_S3_REGION",
                                 "BLOB_S3_ACCESS_KEY_ID", "BLOB_S3_SECRET_ACCESS_KEY"):  # fmt: skip
                        setattr(settings, name, env[name])
                else:
                    settings.BLOB_STORE_URL = f"file://{work}"
                blob_store.cache_clear()
                started = time.monotonic()
                if variant == "plaintext-file":
                    names = [plaintext_put(work, data) for data in items]
                else:
                    names = [blob_store().put_bytes(d, tenant=tenant)[0] for d in items]
                put_s = time.monotonic() - started
                started = time.monotonic()
                if variant == "plaintext-file":
                    read = sum(plaintext_read(work, name) for name in names)
                else:
                    read = 0
                    for name in names:
                        with blob_store().open(name) as stream:
                            read += sum(len(c) for c in iter_chunks(stream))
                read_s = time.monotonic() - started
                assert read == count * args.item_mb * MB
                put, get = args.mb / put_s, args.mb / read_s
                results.setdefault(variant, {"put": [], "read": []})
                results[variant]["put"].append(put)
                results[variant]["read"].append(get)
                print(
                    f"run {run + 1} {variant}: put {put:.1f} MB/s, read {get:.1f} MB/s", flush=True
                )
                subprocess.run(["rm", "-rf", str(work)], check=False)
        print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
        for what in ("put", "read"):
            for variant, numbers in results.items():
                values = numbers[what]
                print(
                    f"{what:5} {variant:15} median {statistics.median(values):8.1f} MB/s  "
                    f"range {min(values):.1f} to {max(values):.1f}  ({len(values)} runs)"
                )
    finally:
        moto.terminate()


if __name__ == "__main__":
    main()
