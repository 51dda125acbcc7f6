"""The sandbox and the product share no code: neither imports the other.

The sandbox plays Microsoft; if it used the product's code (as it once did for the
quickXorHash), a bug in that code would pass every test. Every import statement counts,
function-local ones too. Tests may import both sides; nothing else may.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("portal", "authflow", "restore", "api")


def imported_packages(package: str) -> dict[str, set[str]]:
    """Top-level package of every absolute import in `package`, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_sandbox_imports_nothing_of_the_product():
    offending = {
        path: sorted(names & set(PRODUCT))
        for path, names in imported_packages("sandbox").items()
        if names & set(PRODUCT)
    }
    assert offending == {}


@pytest.mark.parametrize("package", PRODUCT)
def test_the_product_imports_nothing_of_the_sandbox(package):
    offending = [path for path, names in imported_packages(package).items() if "sandbox" in names]
    assert offending == []
