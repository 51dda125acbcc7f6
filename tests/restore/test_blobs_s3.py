"""The S3 backend against a real S3-compatible HTTP server (moto in server mode, its own
process): multipart upload, ranged streaming download, deduplication, tampering, and an
unreachable store."""

from __future__ import annotations

import os

import pytest

from restore.blobs import CHUNK, BlobCorrupt, BlobStoreUnavailable, blob_store, s3
from restore.blobs.store import sealed_name

TENANT = "11111111-1111-1111-1111-111111111111"


def _s3_client():
    backend = blob_store().backend
    assert isinstance(backend, s3.S3Backend)
    return backend.s3


def count_calls(operation: str) -> list[str]:
    """Record each `operation` request the store's client sends (an event hook, no fake)."""
    calls: list[str] = []
    client = _s3_client()
    client.meta.events.register(f"before-call.s3.{operation}", lambda **kw: calls.append(operation))
    return calls


def test_small_content_is_one_put_and_streams_back(s3_store):
    puts, parts = count_calls("PutObject"), count_calls("UploadPart")
    data = b"From: bob@partner.example\r\nSubject: Q3\r\n\r\nbudget" * 100
    address, size, new = blob_store().put_bytes(data, tenant=TENANT)
    assert (size, new) == (len(data), True)
    assert parts == []
    assert len(puts) >= 1
    gets = count_calls("GetObject")
    with blob_store().open(address) as stream:
        assert stream.read() == data
    assert len(gets) == 1  # one request: header and the one chunk together
    assert blob_store().size(address) == len(data)
    assert not blob_store().put_bytes(data, tenant=TENANT)[2]
    assert blob_store().verify(address, tenant=TENANT) == "ok"


def test_large_content_goes_up_in_parts_and_comes_down_in_ranges(s3_store):
    parts, gets = count_calls("UploadPart"), count_calls("GetObject")
    size = 2 * s3.PART_SIZE + 3 * CHUNK + 7
    block = os.urandom(CHUNK)

    def produce():
        sent = 0
        while sent < size:
            piece = block[: size - sent]
            sent += len(piece)
            yield piece

    address, stored, new = blob_store().put(produce(), tenant=TENANT)
    assert stored == size
    assert new
    assert len(parts) == 3  # two full parts and the rest
    client = _s3_client()
    listed = client.list_objects_v2(Bucket=s3_store, Prefix="lifeboat/")["Contents"]
    assert [o["Key"] for o in listed if ".incoming" in o["Key"]] == []  # the temporary is gone
    with blob_store().open(address) as stream:
        received = 0
        while chunk := stream.read(CHUNK):
            assert chunk == block[: len(chunk)]
            received += len(chunk)
    assert received == size
    assert len(gets) == 2  # the whole object streamed, and its final chunk checked first


def test_a_tampered_object_is_refused(s3_store):
    address, _, _ = blob_store().put_bytes(os.urandom(CHUNK + 10), tenant=TENANT)
    client = _s3_client()
    key = f"lifeboat/{sealed_name(address)}"
    raw = bytearray(client.get_object(Bucket=s3_store, Key=key)["Body"].read())
    raw[-3] ^= 1
    client.put_object(Bucket=s3_store, Key=key, Body=bytes(raw))
    with pytest.raises(BlobCorrupt):
        blob_store().open(address)


def test_an_unreachable_store_is_unavailable_not_missing(settings, s3_store):
    from tests.conftest import free_port

    settings.BLOB_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BlobStoreUnavailable, match="cannot be reached"):
        blob_store().open("a" * 64)
    with pytest.raises(BlobStoreUnavailable):
        blob_store().put_bytes(b"x", tenant=TENANT)
    with pytest.raises(BlobStoreUnavailable):
        blob_store().probe()


def test_a_missing_bucket_is_unavailable(settings, s3_store):
    settings.BLOB_STORE_URL = "s3://no-such-bucket-here/x"
    with pytest.raises(BlobStoreUnavailable):
        blob_store().probe()
