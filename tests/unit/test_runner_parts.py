"""The runner's parts (docs/ARCHITECTURE.md) sit below ``runner``: none imports it, and
``mpi`` imports none of them, so no import cycle runs through the runner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PRODUCT = Path(__file__).resolve().parents[2] / "src" / "lmpspot"
PARTS = [
    "checkpointing",
    "exits",
    "replay",
    "run_outputs",
    "seek",
    "session",
    "stages",
    "stops",
    "stores",
]


def _lmpspot_imports(name: str) -> set[str]:
    """The lmpspot modules ``name`` imports (TYPE_CHECKING-only imports included)."""
    tree = ast.parse((PRODUCT / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lmpspot."):
            found.add(node.module.removeprefix("lmpspot."))
        elif isinstance(node, ast.ImportFrom) and node.module == "lmpspot":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("lmpspot.") for a in node.names if a.name.startswith("lmpspot."))
    return found


@pytest.mark.parametrize("part", PARTS)
def test_a_part_does_not_import_the_runner(part):
    assert "runner" not in _lmpspot_imports(part)


def test_mpi_imports_nothing_of_the_runner():
    assert _lmpspot_imports("mpi") & {"runner", *PARTS} == set()
