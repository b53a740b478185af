"""Every module and filter of the repository's collections (lmpspot.aws, lmpspot.local)
carries parseable documentation.

ansible-doc and ansible-lint read DOCUMENTATION/EXAMPLES/RETURN as YAML; a stray
``key: value`` inside a description breaks them silently (lint only warns).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections/ansible_collections/lmpspot"
PLUGINS = COLLECTIONS / "aws/plugins"
# The product's modules and the local stand-ins' (lmpspot.local: local_aws, local_registry).
MODULES = sorted((PLUGINS / "modules").glob("*.py")) + sorted(
    (COLLECTIONS / "local/plugins/modules").glob("*.py")
)
FRAGMENTS = sorted((PLUGINS / "doc_fragments").glob("*.py"))


def _blocks(path: Path, body=None) -> dict[str, str]:
    out = {}
    for node in ast.parse(path.read_text()).body if body is None else body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    out[target.id] = node.value.value
    return out


def _fragment_options(path: Path) -> dict:
    tree = ast.parse(path.read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ModuleDocFragment"]
    return yaml.safe_load(_blocks(path, cls.body)["DOCUMENTATION"])["options"]


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


@pytest.mark.parametrize("path", FRAGMENTS, ids=lambda p: p.stem)
def test_doc_fragments_parse(path):
    for name, opt in _fragment_options(path).items():
        assert opt.get("description"), f"{path.name}: option {name} has no description"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_modules_leave_fragment_options_to_the_fragment(path):
    """An option a module documents itself replaces the fragment's whole entry."""
    doc = yaml.safe_load(_blocks(path)["DOCUMENTATION"])
    for fragment in doc.get("extends_documentation_fragment") or []:
        if fragment.startswith("lmpspot.aws."):
            own = PLUGINS / "doc_fragments" / f"{fragment.split('.')[2]}.py"
            assert own.is_file(), f"{path.name}: no doc fragment {fragment}"
            twice = set(_fragment_options(own)) & set(doc.get("options") or {})
            assert not twice, f"{path.name} documents {sorted(twice)} itself and extends {fragment}"
