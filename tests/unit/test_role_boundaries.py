"""Roles talk through declared outputs, never through each other's internals.

A role's internals are named ``<role>__*`` (its vars, registered results and facts); what
it offers other roles and plays is a public fact ``<role>_out_*``, listed under "Outputs"
in its README. Names of resources that more than one role refers to come from one place,
``lmpspot_names`` (roles/lmpspot_defaults/vars/main.yml), each made by the naming filter.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
# Longest first: bastion_instance__x is bastion_instance's, not bastion's.
INTERNAL = re.compile(r"\b(" + "|".join(sorted(ROLES, key=len, reverse=True)) + r")__\w+")
OUTPUT = re.compile(r"\b(" + "|".join(sorted(ROLES, key=len, reverse=True)) + r")_out_\w+")
SUFFIXES = {".yml", ".yaml", ".j2", ".json"}


def _files():
    for f in sorted((ROOT / "roles").rglob("*")):
        if f.is_file() and f.suffix in SUFFIXES:
            yield f, f.relative_to(ROOT / "roles").parts[0]
    for f in [ROOT / "site.yml", *sorted((ROOT / "playbooks").rglob("*.yml"))]:
        yield f, None


def _uses(pattern: re.Pattern) -> list[tuple[str, int, str, bool]]:
    """(file, line, variable, read outside its role) of every match; a play owns none."""
    out = []
    for f, owner in _files():
        for n, line in enumerate(f.read_text().splitlines(), 1):
            for m in pattern.finditer(line):
                out.append((str(f.relative_to(ROOT)), n, m.group(0), m.group(1) != owner))
    return out


def test_no_role_or_play_reads_another_roles_internals():
    foreign = [f"{f}:{n}: {name}" for f, n, name, outside in _uses(INTERNAL) if outside]
    assert foreign == [], (
        "read another role's <role>__ internals; publish a <role>_out_* fact instead:\n" + "\n".join(foreign)
    )


def test_the_scan_sees_a_foreign_read():
    line = "compute__image_tag: \"{{ image__tag | default('') }}\""
    found = [(m.group(1), "compute") for m in INTERNAL.finditer(line) if m.group(1) != "compute"]
    assert found == [("image", "compute")]
    assert [m.group(1) for m in INTERNAL.finditer("rotate_bastion__x bastion_instance__amis")] == [
        "rotate_bastion",
        "bastion_instance",
    ]


def _outputs_set() -> dict[str, str]:
    """Every <role>_out_* a role sets (set_fact), by name -> the role that sets it."""
    made: dict[str, str] = {}
    for f in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        role = f.relative_to(ROOT / "roles").parts[0]
        for m in re.finditer(r"^\s+(\w+_out_\w+):", f.read_text(), re.M):
            made[m.group(1)] = role
    return made


def test_outputs_are_set_by_their_role_and_documented():
    made = _outputs_set()
    assert made, "no role publishes an output"
    for name, role in made.items():
        assert name.startswith(role + "_out_"), f"{role} sets {name}: an output is named <role>_out_<name>"
        readme = (ROOT / "roles" / role / "README.md").read_text()
        where = readme.split("## Outputs", 1)[-1] if "## Outputs" in readme else ""
        assert f"`{name}`" in where, f"roles/{role}/README.md: {name} not under Outputs"


def test_every_output_read_is_published():
    made = _outputs_set()
    read = {name for _, _, name, _ in _uses(OUTPUT)}
    assert read - set(made) == set(), "outputs read but never set"


def _names() -> dict:
    text = (ROOT / "roles" / "lmpspot_defaults" / "vars" / "main.yml").read_text()
    return yaml.safe_load(text)["lmpspot_names"]


@pytest.mark.parametrize("key", sorted(_names()))
def test_each_shared_name_comes_from_the_naming_filter(key):
    assert "lmpspot.aws.resource_name(lmpspot_environment" in _names()[key]


def test_shared_names_are_computed_nowhere_else():
    """A name in lmpspot_names is not built again by hand or by the filter elsewhere."""
    made = re.compile(r"resource_name\(lmpspot_environment(?:, '([^']+)')?\)")
    parts = {made.search(v).group(1) for v in _names().values()}
    parts.discard(None)
    again = []
    for f, _ in _files():
        if f.parts[-3:] == ("lmpspot_defaults", "vars", "main.yml"):
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            for part in parts:
                if f"resource_name(lmpspot_environment, '{part}')" in line or re.search(
                    r"lmpspot_environment \}\}-" + re.escape(part) + r"\b(?!-)", line
                ):
                    again.append(f"{f.relative_to(ROOT)}:{n}: {part}")
    assert again == [], "use lmpspot_names instead of building the name again:\n" + "\n".join(again)
