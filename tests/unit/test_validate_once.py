"""Every configuration rule is defined once.

Types, choices and whether a setting is required live in the argument spec of a role that
reads it (where several roles read one setting, their declarations agree). The rules
beyond that (ranges, formats, names, CIDR math, relations between settings) live in the
``lmpspot.aws.config_problems`` filter, which preflight applies to the whole configuration
and a role applies to its own settings (``<role>__checked``, in its check's vars) so that its layer
alone refuses them too. A role's ``ansible.builtin.assert`` does not restate them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible_collections.lmpspot.aws.plugins.filter.validate import SETTINGS_FILES, config_problems

ROOT = Path(__file__).resolve().parents[2]
SETTING = re.compile(r"\b(" + "|".join(sorted(SETTINGS_FILES, key=len, reverse=True)) + r")\b")

# Asserts that name a setting the filter checks without restating its rule: a confirmation
# must repeat the bucket's name before its data is deleted.
NOT_A_RULE = {
    ("storage", "Refuse to delete the data without the bucket's name"),
    ("teardown", "Refuse a data-deletion value that does not name the results bucket"),
}


def _tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def _asserts():
    """(role, task name, that-lines) of every assert in a role other than preflight."""
    for f in sorted((ROOT / "roles").glob("*/tasks/**/*.yml")):
        role = f.relative_to(ROOT / "roles").parts[0]
        if role == "preflight":
            continue
        for task in _tasks(yaml.safe_load(f.read_text())):
            spec = task.get("ansible.builtin.assert")
            if spec:
                that = spec["that"] if isinstance(spec["that"], list) else [spec["that"]]
                yield role, task.get("name"), [str(line) for line in that]


def _options() -> dict[str, list[tuple[str, dict]]]:
    """Every argument spec option, by name: (role, its declaration) for each role declaring it."""
    out: dict[str, list[tuple[str, dict]]] = {}
    for f in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        role = f.relative_to(ROOT / "roles").parts[0]
        for entry in (yaml.safe_load(f.read_text())["argument_specs"] or {}).values():
            for name, option in (entry.get("options") or {}).items():
                out.setdefault(name, []).append((role, option))
    return out


def test_no_role_assert_restates_a_preflight_rule():
    restated = [
        f"roles/{role}: {name!r}: {sorted(set(SETTING.findall(line)))}: {line}"
        for role, name, that in _asserts()
        if (role, name) not in NOT_A_RULE
        for line in that
        if SETTING.search(line)
    ]
    assert restated == [], (
        "the lmpspot.aws.config_problems filter already checks these settings: apply it to the "
        "role's <role>__checked settings instead of restating the rule:\n" + "\n".join(restated)
    )


def test_the_scan_sees_a_restated_rule():
    assert SETTING.findall("compute_gpus_per_job | int in [1, 2, 4, 8]") == ["compute_gpus_per_job"]
    assert SETTING.findall("compute_ondemand_max_vcpus | int > 0") == []


def test_not_a_rule_names_existing_asserts():
    assert {(role, name) for role, name, _ in _asserts()} >= NOT_A_RULE


def test_a_role_checks_only_settings_the_filter_knows():
    """A role's <role>__checked maps settings the filter has rules for to their own values."""
    found = 0
    for f in sorted((ROOT / "roles").glob("*/tasks/**/*.yml")):
        role = f.relative_to(ROOT / "roles").parts[0]
        for task in _tasks(yaml.safe_load(f.read_text())):
            checked = (task.get("vars") or {}).get(f"{role}__checked")
            if checked is None:
                continue
            found += 1
            assert set(checked) <= set(SETTINGS_FILES), (
                f"{f}: no rule for {set(checked) - set(SETTINGS_FILES)}"
            )
            for name, value in checked.items():
                assert value == "{{ " + name + " }}", f"{f}: {role}__checked.{name}"
    assert found >= 4


@pytest.mark.parametrize(
    "setting", sorted(n for n, decls in _options().items() if any("choices" in o for _, o in decls))
)
def test_the_filter_leaves_choices_to_the_argument_spec(setting):
    for local in (True, False):
        without = config_problems({"lmpspot_local_aws": local})
        assert config_problems({"lmpspot_local_aws": local, setting: "not-one-of-the-choices"}) == without


@pytest.mark.parametrize("setting", sorted(n for n, decls in _options().items() if len(decls) > 1))
def test_a_setting_declared_by_several_roles_is_declared_alike(setting):
    seen = {
        role: {k: option.get(k) for k in ("type", "elements", "choices")}
        for role, option in _options()[setting]
    }
    assert len({repr(v) for v in seen.values()}) == 1, f"{setting}: {seen}"
