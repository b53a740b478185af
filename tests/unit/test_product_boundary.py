"""The product never reaches for the local stand-ins, and the image cannot hold them.

The stand-ins (the local Batch executor, the IMDS stub, the local fallback) are the
``lmpspot-local`` distribution in ``local/`` (package ``lmpspot_local``); the product is
``src/lmpspot``. The image's build context admits only what ``container/.containerignore``
re-includes and the Containerfile copies; the content tag (roles/image/tasks/tag.yml)
hashes the same sources (tests/integration/test_image_tag.py proves that part by running
it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = REPO / "src" / "lmpspot"
LOCAL = REPO / "local" / "src" / "lmpspot_local"
STAND_IN = "lmpspot_local"


def _imports(path: Path) -> list[str]:
    """Every module a file imports: import statements, and import_module/__import__ with a literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append(node.args[0].value)
    return found


PRODUCT_FILES = sorted(PRODUCT.rglob("*.py"))


def test_the_scan_sees_the_product_and_the_stand_ins():
    assert len(PRODUCT_FILES) > 20
    assert {p.name for p in LOCAL.glob("*.py")} >= {"executor.py", "imds_stub.py", "__init__.py"}
    # the scanner itself finds a stand-in import where there is one
    assert "lmpspot.job_record" in _imports(LOCAL / "executor.py")


@pytest.mark.parametrize("path", PRODUCT_FILES, ids=lambda p: str(p.relative_to(PRODUCT)))
def test_product_module_does_not_import_the_stand_ins(path):
    bad = [m for m in _imports(path) if m == STAND_IN or m.startswith(STAND_IN + ".")]
    assert not bad, f"{path.relative_to(REPO)} imports {bad}: the product may not use the local stand-ins"


def test_no_stand_in_left_inside_the_product():
    for name in ("executor.py", "imds_stub.py", "container_env.py", "fallback.py"):
        assert not list(PRODUCT.rglob(name)), f"{name} is a stand-in: it belongs in local/, not src/lmpspot"
    assert not (PRODUCT / "testing").exists()


def _toml_value(path: Path, key: str) -> str:
    """The raw value of a top-level-looking ``key = ...`` line (the tests' Python may lack tomllib)."""
    match = re.search(rf"(?m)^{key}\s*=\s*(.+)$", path.read_text())
    assert match, f"{path}: no {key}"
    return match.group(1)


def test_the_product_distribution_does_not_depend_on_the_stand_ins():
    product = REPO / "pyproject.toml"
    deps = _toml_value(product, "dependencies")
    assert "lmpspot-local" not in deps and STAND_IN not in deps
    assert _toml_value(product, "where") == '["src"]'  # finds src/lmpspot, never local/src
    local = REPO / "local" / "pyproject.toml"
    assert _toml_value(local, "name") == '"lmpspot-local"'
    assert _toml_value(local, "where") == '["src"]'


def _containerignore_includes() -> list[str]:
    lines = (REPO / "container" / ".containerignore").read_text().splitlines()
    rules = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    assert rules[0] == "*", "the build context must start from nothing (`*`) and re-include what it needs"
    return [r[1:] for r in rules if r.startswith("!")]


def test_build_context_admits_no_stand_in():
    included = _containerignore_includes()
    assert included, "container/.containerignore re-includes nothing?"
    for path in included:
        assert not path.startswith("local"), f".containerignore lets {path} into the build context"
        assert STAND_IN not in path and "collections" not in path
    assert "src/lmpspot" in included


def test_containerfile_copies_only_admitted_sources():
    included = _containerignore_includes()
    text = (REPO / "container" / "Containerfile").read_text()
    copies = []
    for args in re.findall(r"(?m)^\s*(?:COPY|ADD)\s+(.+)$", text):
        words = args.split()
        if any(w.startswith("--from") for w in words):
            continue  # from another stage, not from the build context
        copies += [w for w in words[:-1] if not w.startswith("--")]
    assert copies, "no COPY from the build context found"
    for item in copies:
        assert not item.startswith("local"), f"the Containerfile copies {item}"
        assert any(item == inc or item.startswith(inc + "/") for inc in included), (
            f"the Containerfile copies {item}, which .containerignore does not admit"
        )


def test_image_tag_inputs_leave_out_the_stand_ins():
    tag = (REPO / "roles" / "image" / "tasks" / "tag.yml").read_text()
    assert "src/lmpspot" in tag
    assert "local/" not in tag and STAND_IN not in tag
