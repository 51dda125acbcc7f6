"""QuickXorHash: the sandbox's own implementation and the product's, against published vectors.

Microsoft's description of the algorithm ("Code snippets: QuickXorHash algorithm" in the
OneDrive developer docs) comes with a C# sample but no test vectors. These are rclone's
(backend/onedrive/quickxorhash/quickxorhash_test.go), a widely used OneDrive client whose
implementation is a port of Microsoft's sample: (length, input in base64, hash). The two
implementations here share no code (sandbox/quickxor.py, restore/quickxor.py), so a bug in
one cannot hide in a comparison with the other.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterable

import pytest

from restore import quickxor as product
from sandbox import quickxor as sandbox

RCLONE_VECTORS = [
    (0, "", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    (1, "Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
    (2, "tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
    (3, "0pZP", "0rDEEwAAAAAAAAAAAwAAAAAAAAA="),
    (5, "eAV52qE=", "eChAHrQRCgAAAAAABQAAAAAAAAA="),
    (8, "/aNzzCFPS/A=", "/RjFHJgRgicsAR4ACAAAAAAAAAA="),
    (9, "n6Neh7p6fFgm", "nxiFFw6hCz3wAQsmCQAAAAAAAAA="),
    (13, "vPgoDjOfO6fm71RxLw==", "vMAHChwwg0/s4BTmdQcV4vACAAA="),
    (15, "gQaybEqS/4UlDc8e4IJm", "gDCALNigBEn8oxAlZ8AzPAAOQZg="),
    (16, "2fuxhBJXtpWFe8dOfdGeHw==", "O9tHLAghgSvYohKFyMMxnNCHaHg="),
    (20, "T6LYJIfDh81JrAK309H2JMJTXis=", "zBTHrspn3mEcohlJdIUAbjGNaNg="),
    (21, "DWAAX5/CIfrmErgZa8ot6ZraeSbu", "LR2Z0PjuRYGKQB/mhQAuMrAGZbQ="),
    (32, "NbYXsp5/K6mR+NmHwExjvWeWDJFnXTKWVlzYHoesp2E=", "wjuAuWDiq04qDt1R8hHWDDcwVoQ="),
    (
        64,
        "Mb7EGva2rEE5fENDL85P+BsapHEEjv2/siVhKjvAQe02feExVOQSkfmuYzU/kTF1MaKjPmKF/w+cbvwfdWL8aQ==",
        "n1anP5NfvD4XDYWIeRPW3ZkPv1Y=",
    ),
    (
        128,
        "ikwCorI7PKWz17EI50jZCGbV9JU2E8bXVfxNMg5zdmqSZ2NlsQPp0kqYIPjzwTg1MBtfWPg53k0h"
        "0P2naJNEVgrqpoHTfV2b3pJ4m0zYPTJmUX4Bg/lOxcnCxAYKU29Y5F0U8Quz7ZXFBEweftXxJ7RS"
        "4r6N7BzJrPsLhY7hgck=",
        "imAoFvCWlDn4yVw3/oq1PDbbm6U=",
    ),
    (
        222,
        "PfxMcUd0vIW6VbHG/uj/Y0W6qEoKmyBD0nYebEKazKaKG+UaDqBEcmQjbfQeVnVLuodMoPp7P7TR"
        "1htX5n2VnkHh22xDyoJ8C/ZQKiSNqQfXvh83judf4RVr9exJCud8Uvgip6aVZTaPrJHVjQhMCp/d"
        "EnGvqg0oN5OVkM2qqAXvA0teKUDhgNM71sDBVBCGXxNOR2bpbD1iM4dnuT0ey4L+loXEHTL0fqMe"
        "UcEi2asgImnlNakwenDzz0x57aBwyq3AspCFGB1ncX4yYCr/OaCcS5OKi/00WH+wNQU3",
        "QX/YEpG0gDsmhEpCdWhsxDzsfVE=",
    ),
    (
        256,
        "qwGf2ESubE5jOUHHyc94ORczFYYbc2OmEzo+hBIyzJiNwAzC8PvJqtTzwkWkSslgHFGWQZR2BV5+"
        "uYTrYT7HVwRM40vqfj0dBgeDENyTenIOL1LHkjtDKoXEnQ0mXAHoJ8PjbNC93zi5TovVRXTNzfGE"
        "s5dpWVqxUzb5lc7dwkyvOluBw482mQ4xrzYyIY1t+//OrNi1ObGXuUw2jBQOFfJVj2Y6BOyYmfB1"
        "y36eBxi3zxeG5d5NYjm2GSh6e08QMAwu3zrINcqIzLOuNIiGXBtl7DjKt7b5wqi4oFiRpZsCyx2s"
        "mhSrdrtK/CkdU6nDN+34vSR/M8rZpWQdBE7a8g==",
        "WYT9JY3JIo/pEBp+tIM6Gt2nyTM=",
    ),
    (
        333,
        "w0LGhqU1WXFbdavqDE4kAjEzWLGGzmTNikzqnsiXHx2KRReKVTxkv27u3UcEz9+lbMvYl4xFf2Z4"
        "aE1xRBBNd1Ke5C0zToSaYw5o4B/7X99nKK2/XaUX1byLow2aju2XJl2OpKpJg+tSJ2fmjIJTkfuY"
        "Uz574dFX6/VXxSxwGH/xQEAKS5TCsBK3CwnuG1p5SAsQq3gGVozDWyjEBcWDMdy8/AIFrj/y03Lf"
        "c/RNRCQTAfZbnf2QwV7sluw4fH3XJr07UoD0YqN+7XZzidtrwqMY26fpLZnyZjnBEt1FAZWO7RnK"
        "G5asg8xRk9YaDdedXdQSJAOy6bWEWlABj+tVAigBxavaluUH8LOj+yfCFldJjNLdi90fVHkUD/m4"
        "Mr5OtmupNMXPwuG3EQlqWUVpQoYpUYKLsk7a5Mvg6UFkiH596y5IbJEVCI1Kb3D1",
        "e3+wo77iKcILiZegnzyUNcjCdoQ=",
    ),
]


def sandbox_of_chunks(chunks: Iterable[bytes]) -> str:
    digest = sandbox.QuickXorHash()
    for chunk in chunks:
        digest.update(chunk)
    return digest.base64()


IMPLEMENTATIONS: dict[str, Callable[[Iterable[bytes]], str]] = {
    "product": product.quick_xor_hash_of_chunks,
    "sandbox": sandbox_of_chunks,
}


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(("length", "encoded", "expected"), RCLONE_VECTORS)
def test_published_vectors_whole_and_in_pieces(implementation, length, encoded, expected):
    data = base64.b64decode(encoded, validate=True)
    assert len(data) == length
    hash_of = IMPLEMENTATIONS[implementation]
    assert hash_of([data]) == expected
    # Pieces that cross the 160-byte lanes (and the 64-bit words) at every offset.
    for size in (1, 2, 7, 8, 13, 64, 159, 160, 161):
        assert hash_of(chunked(data, size)) == expected, f"in pieces of {size} bytes"


def test_the_one_shot_functions_agree_with_the_vectors():
    for _, encoded, expected in RCLONE_VECTORS:
        data = base64.b64decode(encoded)
        assert sandbox.quick_xor_hash(data) == expected
        assert product.quick_xor_hash(data) == expected


def test_the_two_implementations_agree_on_large_uneven_input():
    # Past the sandbox's 640 KiB unpacking block, in pieces of random sizes.
    rng = random.Random(11)
    data = rng.randbytes(1_310_720 + 77)
    pieces, start = [], 0
    while start < len(data):
        size = rng.randint(1, 70_000)
        pieces.append(data[start : start + size])
        start += size
    expected = product.quick_xor_hash(data)
    assert sandbox_of_chunks(pieces) == expected
    assert sandbox.quick_xor_hash(data) == expected
    assert product.quick_xor_hash_of_chunks(pieces) == expected


def test_sandbox_digest_is_twenty_bytes_with_the_length_in_the_last_eight():
    digest = sandbox.QuickXorHash(b"\x00" * 1000).digest()
    assert len(digest) == sandbox.DIGEST_SIZE == 20
    assert digest == bytes(12) + (1000).to_bytes(8, "little")
