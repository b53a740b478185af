"""Every module and filter of the local collection carries parseable documentation.

ansible-doc and ansible-lint read DOCUMENTATION/EXAMPLES/RETURN as YAML; a stray
``key: value`` inside a description breaks them silently (lint only warns).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

PLUGINS = Path(__file__).resolve().parents[2] / "collections/ansible_collections/lmpspot/aws/plugins"
MODULES = sorted((PLUGINS / "modules").glob("*.py"))


def _blocks(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    out[target.id] = node.value.value
    return out


def test_there_are_modules():
    assert len(MODULES) >= 5


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_docs_parse(path):
    blocks = _blocks(path)
    assert set(blocks) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, f"{path.name} lacks a doc block"
    doc = yaml.safe_load(blocks["DOCUMENTATION"])
    assert doc["module"] == path.stem
    assert doc.get("short_description")
    for name, opt in (doc.get("options") or {}).items():
        assert opt.get("description"), f"{path.name}: option {name} has no description"
    yaml.safe_load(blocks["EXAMPLES"])
    yaml.safe_load(blocks["RETURN"])
