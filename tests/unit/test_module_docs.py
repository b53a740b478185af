"""Every module and filter of the repository's collections (lmpspot.aws, lmpspot.local)
carries parseable documentation (a filter's in plugins/filter/<name>.yml, where
ansible-doc looks for it).

ansible-doc and ansible-lint read DOCUMENTATION/EXAMPLES/RETURN as YAML; a stray
``key: value`` inside a description breaks them silently (lint only warns).
"""

from __future__ import annotations

import ast
import importlib
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
FILTER_FILES = sorted((PLUGINS / "filter").glob("*.py"))
GALAXY = yaml.safe_load((PLUGINS.parent / "galaxy.yml").read_text())


def _version(text) -> tuple[int, ...]:
    return tuple(int(part) for part in str(text).split("."))


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
    if "version_added" in doc:
        assert _version(doc["version_added"]) <= _version(GALAXY["version"]), (
            f"{path.name}: version_added {doc['version_added']} is above galaxy.yml's {GALAXY['version']}"
        )


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


def _filters() -> dict[str, str]:
    """Every filter the collection exports -> the plugin file that exports it."""
    out = {}
    for path in FILTER_FILES:
        mod = importlib.import_module(f"ansible_collections.lmpspot.aws.plugins.filter.{path.stem}")
        for name in mod.FilterModule().filters():
            assert name not in out, f"filter {name} exported by {out.get(name)} and {path.name}"
            out[name] = path.name
    return out


FILTERS = _filters()


def test_there_are_filters():
    assert len(FILTERS) >= 10


@pytest.mark.parametrize("path", FILTER_FILES, ids=lambda p: p.stem)
def test_filter_files_leave_docs_to_the_yml_files(path):
    """ansible-doc reads a filter's DOCUMENTATION from its plugin file first: one there would
    stand for every filter of the file and hide their own <name>.yml."""
    assert not any(
        line.startswith(("DOCUMENTATION", "EXAMPLES", "RETURN")) for line in path.read_text().splitlines()
    )


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_docs(name):
    """``ansible-doc -t filter lmpspot.aws.<name>`` shows plugins/filter/<name>.yml."""
    path = PLUGINS / "filter" / f"{name}.yml"
    assert path.is_file(), f"filter {name} ({FILTERS[name]}) has no {path.name}"
    blocks = yaml.safe_load(path.read_text())
    assert set(blocks) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    doc = blocks["DOCUMENTATION"]
    assert doc["name"] == name
    assert doc.get("short_description")
    assert _version(doc["version_added"]) <= _version(GALAXY["version"])
    options = doc.get("options") or {}
    assert "_input" in options
    for opt, spec in options.items():
        assert spec.get("description"), f"{path.name}: option {opt} has no description"
    for opt in str(doc.get("positional", "")).replace(" ", "").split(","):
        assert not opt or opt in options, f"{path.name}: positional {opt} is not an option"
    assert f"lmpspot.aws.{name}" in blocks["EXAMPLES"]
    assert blocks["RETURN"]["_value"].get("description")


def test_every_filter_doc_is_for_a_filter():
    docs = {p.stem for p in (PLUGINS / "filter").glob("*.yml")}
    assert docs == set(FILTERS)
