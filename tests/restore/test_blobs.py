"""The sealed, keyed blob store on files: round trips, deduplication per tenant, and every
way a stored blob can be damaged (each detected by authentication, never served)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from restore.blobs import (
    CHUNK,
    BlobCorrupt,
    BlobKeyMissing,
    BlobNotFound,
    BlobStoreUnavailable,
    blob_store,
    iter_chunks,
    sealing,
)
from restore.blobs.store import sealed_name
from tests.conftest import ROOT

TENANT = "11111111-1111-1111-1111-111111111111"
OTHER_TENANT = "22222222-2222-2222-2222-222222222222"


@pytest.fixture
def store_root(settings, tmp_path) -> Path:
    """A store of this test's own: damage done here must not reach other tests."""
    settings.BLOB_STORE_URL = f"file://{tmp_path / 'store'}"
    return tmp_path / "store"


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def read_all(address: str) -> bytes:
    with blob_store().open(address) as stream:
        return stream.read()


def path_of(root: Path, address: str) -> Path:
    return root / sealed_name(address)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_content_comes_back_as_stored_and_is_not_on_disk_in_plaintext(store_root, size):
    data = os.urandom(size // 2) + b"Q3 budget final " * (size // 32) + os.urandom(size % 16)
    address, stored, new = blob_store().put_bytes(data, tenant=TENANT)
    assert (stored, new) == (len(data), True)
    assert read_all(address) == data
    assert blob_store().size(address) == len(data)
    assert blob_store().verify(address, tenant=TENANT) == "ok"
    raw = path_of(store_root, address).read_bytes()
    if len(data) >= 32:
        assert b"Q3 budget final" not in raw
        assert data[:32] not in raw


def test_same_content_is_stored_once_per_tenant_and_unlinkable_across_tenants(store_root):
    data = b"the same attachment in two organisations"
    first, _, new_first = blob_store().put_bytes(data, tenant=TENANT)
    again, _, new_again = blob_store().put_bytes(data, tenant=TENANT)
    other, _, new_other = blob_store().put_bytes(data, tenant=OTHER_TENANT)
    assert first == again
    assert new_first
    assert not new_again
    assert other != first
    assert new_other
    import hashlib

    # Not the plain SHA-256: an address alone says nothing about the content.
    assert hashlib.sha256(data).hexdigest() not in (first, other)


def test_a_flipped_byte_in_a_middle_chunk_fails_on_read(store_root):
    data = os.urandom(3 * CHUNK)
    address, _, _ = blob_store().put_bytes(data, tenant=TENANT)
    path = path_of(store_root, address)
    raw = bytearray(path.read_bytes())
    raw[sealing.HEADER + CHUNK + 100] ^= 1  # inside chunk 1 of 0..2
    path.write_bytes(bytes(raw))
    served = bytearray()

    def read_through() -> None:
        with blob_store().open(address) as stream:
            while chunk := stream.read(65536):
                served.extend(chunk)

    with pytest.raises(BlobCorrupt):
        read_through()
    # Only the authenticated first chunk came out, never a byte of the damaged one.
    assert served == data[:CHUNK]
    assert blob_store().verify(address, tenant=TENANT) == "corrupt"


@pytest.mark.parametrize(
    "damage",
    ["cut at a chunk boundary", "cut mid-chunk", "last byte flipped", "header flipped"],
)
def test_truncated_or_tampered_blobs_are_refused_before_any_byte(store_root, damage):
    address, _, _ = blob_store().put_bytes(os.urandom(2 * CHUNK + 5), tenant=TENANT)
    path = path_of(store_root, address)
    raw = bytearray(path.read_bytes())
    if damage == "cut at a chunk boundary":
        raw = raw[: sealing.HEADER + 2 * sealing.SEALED_CHUNK]
    elif damage == "cut mid-chunk":
        raw = raw[: sealing.HEADER + sealing.SEALED_CHUNK + 1000]
    elif damage == "last byte flipped":
        raw[-1] ^= 0x80
    else:
        raw[10] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobCorrupt):
        blob_store().open(address)
    assert blob_store().verify(address, tenant=TENANT) == "corrupt"


def test_reordered_chunks_fail(store_root):
    address, _, _ = blob_store().put_bytes(os.urandom(3 * CHUNK), tenant=TENANT)
    path = path_of(store_root, address)
    raw = path.read_bytes()
    h, c = sealing.HEADER, sealing.SEALED_CHUNK
    path.write_bytes(raw[:h] + raw[h + c : h + 2 * c] + raw[h : h + c] + raw[h + 2 * c :])
    with pytest.raises(BlobCorrupt):
        read_all(address)


def test_a_blob_copied_over_another_address_is_refused(store_root):
    mine, _, _ = blob_store().put_bytes(b"alice's contract", tenant=TENANT)
    theirs, _, _ = blob_store().put_bytes(b"another tenant's secret", tenant=OTHER_TENANT)
    path_of(store_root, mine).write_bytes(path_of(store_root, theirs).read_bytes())
    with pytest.raises(BlobCorrupt):
        blob_store().open(mine)


def test_unknown_and_malformed_addresses_are_not_found(store_root):
    with pytest.raises(BlobNotFound):
        blob_store().open("0" * 64)
    with pytest.raises(BlobNotFound):
        blob_store().open("../../etc/passwd")
    assert not blob_store().exists("../" * 10)


def test_old_keys_open_until_rotation_is_done_then_only_the_new_one_is_needed(store_root, settings):
    old = settings.BLOB_ENCRYPTION_KEYS[0]
    address, _, _ = blob_store().put_bytes(b"sealed with the old key", tenant=TENANT)
    new = new_key()
    settings.BLOB_ENCRYPTION_KEYS = [new]
    with pytest.raises(BlobKeyMissing):
        blob_store().open(address)
    assert "BLOB_ENCRYPTION_KEYS" in (blob_store().key_problem() or "")

    settings.BLOB_ENCRYPTION_KEYS = [new, old]  # the new key first: it seals, both open
    assert read_all(address) == b"sealed with the old key"
    fresh, _, _ = blob_store().put_bytes(b"sealed with the new key", tenant=TENANT)
    from django.core.management import call_command

    call_command("rotate_blob_keys")
    call_command("rotate_blob_keys")  # resumable: a second run finds nothing to do

    settings.BLOB_ENCRYPTION_KEYS = [new]
    assert blob_store().key_problem() is None
    assert read_all(address) == b"sealed with the old key"
    assert read_all(fresh) == b"sealed with the new key"


def test_a_read_only_store_says_so_and_keeps_nothing_half_written(settings, tmp_path):
    store_dir = tmp_path / "ro"
    store_dir.mkdir()
    if os.geteuid() == 0:  # root ignores permissions: mount a read-only file system
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(store_dir)], check=False
        )
        if mounted.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
    else:
        store_dir.chmod(0o555)
    try:
        settings.BLOB_STORE_URL = f"file://{store_dir}"
        with pytest.raises(BlobStoreUnavailable, match="read-only"):
            blob_store().put_bytes(b"anything", tenant=TENANT)
        with pytest.raises(BlobStoreUnavailable, match="read-only"):
            blob_store().probe()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(store_dir)], check=False)


def test_streaming_a_large_blob_in_and_out_keeps_memory_flat(store_root):
    size = 96 * CHUNK

    def produce():
        block = os.urandom(CHUNK)
        for n in range(size // CHUNK):
            yield n.to_bytes(8, "big") + block[8:]

    tracemalloc.start()
    try:
        address, stored, _ = blob_store().put(produce(), tenant=TENANT)
        with blob_store().open(address) as stream:
            total = sum(len(chunk) for chunk in iter_chunks(stream))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored == total == size
    assert peak < 12 * CHUNK, f"peak {peak / CHUNK:.1f} MiB for a {size // CHUNK} MiB blob"


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_wrong_or_missing_blob_key_stops_start_up_with_one_line(store_root, settings):
    blob_store().put_bytes(b"makes keys.json", tenant=TENANT)
    env = {
        **os.environ,
        "BLOB_STORE_URL": f"file://{store_root}",
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
    }
    wrong = start({**env, "BLOB_ENCRYPTION_KEYS": new_key()})
    assert wrong.returncode == 1
    assert wrong.stderr.strip().count("\n") == 0, wrong.stderr
    assert "BLOB_ENCRYPTION_KEYS" in wrong.stderr
    assert settings.BLOB_ENCRYPTION_KEYS[0] not in wrong.stderr

    wrong_address = start({**env, "BLOB_ADDRESS_KEY": new_key()})
    assert wrong_address.returncode == 1
    assert "BLOB_ADDRESS_KEY" in wrong_address.stderr
    assert wrong_address.stderr.strip().count("\n") == 0, wrong_address.stderr

    missing = start({**env, "LIFEBOAT_MODE": "production", "BLOB_ENCRYPTION_KEYS": ""})
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0, missing.stderr

    malformed = start({**env, "BLOB_ENCRYPTION_KEYS": "not-a-key"})
    assert malformed.returncode == 1
    assert "BLOB_ENCRYPTION_KEYS" in malformed.stderr

    assert start(env).returncode == 0


@pytest.mark.parametrize("command", ["gunicorn", "celery worker", "celery beat"])
def test_every_process_stops_on_a_wrong_blob_key_with_one_line(store_root, command):
    from tests.portal.test_settings import COMMANDS

    blob_store().put_bytes(b"makes keys.json", tenant=TENANT)
    env = {
        **os.environ,
        "BLOB_STORE_URL": f"file://{store_root}",
        "BLOB_ENCRYPTION_KEYS": new_key(),
    }
    result = subprocess.run(
        COMMANDS[command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith(
        "Lifeboat configuration error: BLOB_ENCRYPTION_KEYS lacks the key(s)"
    )
