"""The blob store in an S3-compatible bucket: BLOB_STORE_URL=s3://bucket/prefix.

boto3 talks HTTP to AWS S3 or to any compatible server (MinIO, Ceph RGW, Garage, moto)
set by BLOB_S3_ENDPOINT_URL. Small blobs are one PUT; a blob larger than one part goes up
as a multipart upload to a temporary key (parts of PART_SIZE bytes, so memory stays
flat) and is then copied server-side under its address, because the address is only
known once the last byte is read. Downloads are ranged GETs, streamed.

Several web and worker hosts share one bucket: names are content addresses, a write
never changes an existing blob, so no coordination is needed.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from restore.blobs.errors import BlobNotFound, BlobStoreUnavailable

PART_SIZE = 8 * 1024 * 1024  # S3 wants >= 5 MiB for every part but the last
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def client(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    addressing_style: str = "auto",
) -> Any:
    config = Config(
        signature_version="s3v4",
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": addressing_style},
        # Checksums on every request only where the server is AWS: many compatible
        # servers reject the newer default trailers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )


class S3Writer:
    def __init__(self, backend: S3Backend) -> None:
        self.backend = backend
        self._buffer = bytearray()
        self._upload: str | None = None
        self._tmp = f"{backend.prefix}.incoming/{uuid.uuid4().hex}"
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= PART_SIZE:
            part = bytes(self._buffer[:PART_SIZE])
            del self._buffer[:PART_SIZE]
            self._upload_part(part)

    def _upload_part(self, data: bytes) -> None:
        s3, bucket = self.backend.s3, self.backend.bucket
        with self.backend.errors():
            if self._upload is None:
                self._upload = s3.create_multipart_upload(Bucket=bucket, Key=self._tmp)["UploadId"]
            number = len(self._parts) + 1
            answer = s3.upload_part(
                Bucket=bucket, Key=self._tmp, UploadId=self._upload, PartNumber=number, Body=data
            )
            self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self, name: str, *, replace: bool = False) -> bool:
        backend = self.backend
        key = backend.key(name)
        try:
            if not replace and backend.exists(name):
                return False
            with backend.errors():
                if self._upload is None:
                    backend.s3.put_object(Bucket=backend.bucket, Key=key, Body=bytes(self._buffer))
                    return True
                if self._buffer:
                    self._upload_part(bytes(self._buffer))
                backend.s3.complete_multipart_upload(
                    Bucket=backend.bucket,
                    Key=self._tmp,
                    UploadId=self._upload,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload = None
                # Managed copy: multipart copy for objects over 5 GB.
                backend.s3.copy({"Bucket": backend.bucket, "Key": self._tmp}, backend.bucket, key)
                backend.s3.delete_object(Bucket=backend.bucket, Key=self._tmp)
                return True
        finally:
            self.abort()

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload is not None:
            upload, self._upload = self._upload, None
            # If this fails too, a lifecycle rule for incomplete uploads cleans up
            # (docs/operations.md).
            with contextlib.suppress(BotoCoreError, ClientError):
                self.backend.s3.abort_multipart_upload(
                    Bucket=self.backend.bucket, Key=self._tmp, UploadId=upload
                )


class _Errors:
    def __init__(self, backend: S3Backend) -> None:
        self.backend = backend

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> Literal[False]:
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                raise BlobNotFound(str(error)) from None
            if code in ("AccessDenied", "403", "AllAccessDisabled"):
                raise BlobStoreUnavailable(
                    f"the blob store {self.backend} refuses access (read-only or wrong credentials)"
                ) from None
            raise BlobStoreUnavailable(f"the blob store {self.backend} answered {code}") from None
        if isinstance(error, BotoCoreError):
            raise BlobStoreUnavailable(
                f"the blob store {self.backend} cannot be reached ({type(error).__name__})"
            ) from None
        return False


class S3Backend:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def errors(self) -> _Errors:
        return _Errors(self)

    def exists(self, name: str) -> bool:
        try:
            self.size(name)
        except BlobNotFound:
            return False
        return True

    def size(self, name: str) -> int:
        with self.errors():
            return int(self.s3.head_object(Bucket=self.bucket, Key=self.key(name))["ContentLength"])

    def open_at(self, name: str, start: int, end: int) -> BinaryIO:
        with self.errors():
            answer = self.s3.get_object(
                Bucket=self.bucket, Key=self.key(name), Range=f"bytes={start}-{end - 1}"
            )
        return answer["Body"]

    def open_whole(self, name: str) -> tuple[BinaryIO, int]:
        """The whole object and its size, in one GET (no HEAD first)."""
        with self.errors():
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key(name))
        return answer["Body"], int(answer["ContentLength"])

    def writer(self) -> S3Writer:
        return S3Writer(self)

    def delete(self, name: str) -> None:
        with self.errors():
            self.s3.delete_object(Bucket=self.bucket, Key=self.key(name))

    def names(self, prefix: str) -> Iterator[str]:
        with self.errors():
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key(prefix)
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    yield entry["Key"][len(self.prefix) :]

    def probe(self) -> None:
        with self.errors():
            key = self.key(".incoming/healthz-probe")
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"probe")
            self.s3.delete_object(Bucket=self.bucket, Key=key)
