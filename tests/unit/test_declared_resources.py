"""Each layer's declaration of what it makes (``<role>__resources``, read by the audit's drift
check) keeps up with its tasks: a role whose create path uses a module that makes an IAM
role, instance profile, log group, alarm, EventBridge rule, schedule, state machine or SNS
topic declares a resource of that kind, and is one of the audit's layers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
# module (short name) -> the kind it makes (collections/.../module_utils/audit_resources.py KINDS)
MAKES = {
    "iam_role": "iam_role",
    "iam_instance_profile": "instance_profile",
    "cloudwatchlogs_log_group": "log_group",
    "cloudwatch_metric_alarm": "alarm",
    "cloudwatch_query_alarm": "alarm",
    "eventbridge_log_rule": "event_rule",
    "eventbridge_state_machine_target": "event_rule",
    "cloudwatchevent_rule": "event_rule",
    "scheduler_schedule": "schedule",
    "stepfunctions_state_machine": "state_machine",
    "sns_topic": "sns_topic",
}


def _tasks(items):
    for t in items or []:
        if not isinstance(t, dict):
            continue
        yield t
        for key in ("block", "rescue", "always"):
            yield from _tasks(t.get(key))


def _made(role: Path) -> set[str]:
    """The kinds the role's tasks make (a task whose state is not literally absent; the
    delete paths are left out)."""
    kinds = set()
    for f in sorted((role / "tasks").glob("*.yml")):
        if "delete" in f.stem:
            continue
        for task in _tasks(yaml.safe_load(f.read_text())):
            for key, args in task.items():
                kind = MAKES.get(key.rsplit(".", 1)[-1])
                if kind and not (isinstance(args, dict) and args.get("state") == "absent"):
                    kinds.add(kind)
    return kinds


def _declared(role: Path) -> set[str]:
    text = (role / "vars" / "main.yml").read_text()
    var = yaml.safe_load(text).get(f"{role.name}__resources")
    if var is None:
        return set()
    text = var if isinstance(var, str) else yaml.safe_dump(var)
    return {k for k in set(MAKES.values()) if f"kind: {k}" in text or f"'kind': '{k}'" in text}


def _layers() -> set[str]:
    audit = yaml.safe_load((ROLES / "audit" / "vars" / "main.yml").read_text())
    return {layer["role"] for layer in audit["audit__layers"]}


MAKERS = sorted(r.name for r in ROLES.iterdir() if (r / "tasks").is_dir() and _made(r))


def test_the_roles_that_make_such_resources_are_found():
    assert {"identity", "compute", "monitoring", "night_window", "bastion_instance"} <= set(MAKERS)


@pytest.mark.parametrize("role", MAKERS)
def test_role_declares_what_it_makes(role):
    path = ROLES / role
    missing = _made(path) - _declared(path)
    assert not missing, f"roles/{role} makes {sorted(missing)} but {role}__resources does not declare them"
    assert role in _layers(), f"roles/{role} is not in audit__layers (roles/audit/vars/main.yml)"
    assert (path / "tasks" / "resources.yml").is_file(), f"roles/{role}/tasks/resources.yml is missing"
