# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift of the resources each layer declares (docs/AUDIT.md, "Drift: what is compared").

Each layer role declares what its create path makes as ``<role>__resources``
(``[{kind, name}]``, in its ``vars/main.yml``); the audit role passes them here grouped by
the play that makes them (``{play: [{kind, name}]}``).

* :func:`collect_resources`: which of them exist (read-only ``Get*``/``Describe*``/``List*``
  calls; one call per kind where the API lists, one per resource where it only gets);
* :func:`check_resource_drift`: pure, what is declared but absent (``drift.missing``, high)
  and what exists but is switched off (an EventBridge rule or a schedule ``DISABLED``, an
  alarm with its actions off: ``drift.config``, medium).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import (
    finding,
    missing,
    pages,
    read_or_none,
)

# kind -> what a person calls it (the message) ...
KINDS = {
    "iam_role": "IAM role",
    "instance_profile": "instance profile",
    "log_group": "log group",
    "alarm": "CloudWatch alarm",
    "event_rule": "EventBridge rule",
    "schedule": "EventBridge Scheduler schedule",
    "state_machine": "Step Functions state machine",
    "sns_topic": "SNS topic",
}


def flatten(declared: Mapping[str, Iterable[Mapping[str, str]]]) -> list[dict[str, str]]:
    """``{play: [{kind, name}]}`` -> ``[{kind, name, play}]``; an unknown kind is an error
    (a role declared something the audit cannot read: say so, do not skip it)."""
    out = []
    for play, items in (declared or {}).items():
        for item in items or []:
            kind = item.get("kind")
            if kind not in KINDS:
                raise ValueError(
                    f"{play}: resource {item.get('name')!r} has kind {kind!r}; the audit reads "
                    f"{', '.join(sorted(KINDS))}"
                )
            out.append({"kind": kind, "name": str(item["name"]), "play": play})
    return out


def collect_resources(client: Callable[[str], Any], resources: Iterable[Mapping[str, str]]) -> dict:
    """``{(kind, name): state}`` for the declared ``resources``: None when absent, else a
    dict with ``enabled`` (False when the resource is switched off)."""
    resources = list(resources)
    by_kind: dict[str, list[str]] = {}
    for r in resources:
        by_kind.setdefault(r["kind"], []).append(r["name"])
    out: dict[tuple[str, str], Any] = {}
    for kind, names in by_kind.items():
        out.update({(kind, n): s for n, s in _READERS[kind](client, sorted(set(names))).items()})
    return out


def _iam_roles(client, names):
    iam = client("iam")
    return {
        n: ({"enabled": True} if read_or_none(iam.get_role, "NoSuchEntity", RoleName=n) else None)
        for n in names
    }


def _instance_profiles(client, names):
    iam = client("iam")
    return {
        n: (
            {"enabled": True}
            if read_or_none(iam.get_instance_profile, "NoSuchEntity", InstanceProfileName=n)
            else None
        )
        for n in names
    }


def _log_groups(client, names):
    logs = client("logs")
    out = {}
    for n in names:
        found = logs.describe_log_groups(logGroupNamePrefix=n).get("logGroups", [])
        out[n] = {"enabled": True} if any(g.get("logGroupName") == n for g in found) else None
    return out


def _alarms(client, names):
    cw = client("cloudwatch")
    have: dict[str, bool] = {}
    for i in range(0, len(names), 100):  # AlarmNames takes at most 100
        page = cw.describe_alarms(AlarmNames=names[i : i + 100])
        for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            have[a["AlarmName"]] = bool(a.get("ActionsEnabled", True))
    return {n: ({"enabled": have[n]} if n in have else None) for n in names}


def _event_rules(client, names):
    events = client("events")
    out = {}
    for n in names:
        rule = read_or_none(events.describe_rule, "ResourceNotFoundException", Name=n)
        out[n] = None if rule is None else {"enabled": rule.get("State", "ENABLED") == "ENABLED"}
    return out


def _schedules(client, names):
    scheduler = client("scheduler")
    out = {}
    for n in names:
        got = read_or_none(scheduler.get_schedule, "ResourceNotFoundException", Name=n, GroupName="default")
        out[n] = None if got is None else {"enabled": got.get("State", "ENABLED") == "ENABLED"}
    return out


def _state_machines(client, names):
    sfn = client("stepfunctions")
    have = {m["name"] for m in pages(sfn, "list_state_machines", "stateMachines")}
    return {n: ({"enabled": True} if n in have else None) for n in names}


def _sns_topics(client, names):
    sns = client("sns")
    have = {t["TopicArn"].rsplit(":", 1)[-1] for t in pages(sns, "list_topics", "Topics")}
    return {n: ({"enabled": True} if n in have else None) for n in names}


_READERS = {
    "iam_role": _iam_roles,
    "instance_profile": _instance_profiles,
    "log_group": _log_groups,
    "alarm": _alarms,
    "event_rule": _event_rules,
    "schedule": _schedules,
    "state_machine": _state_machines,
    "sns_topic": _sns_topics,
}


def check_resource_drift(resources: Iterable[Mapping[str, str]], state: Mapping[tuple, Any]) -> list:
    """Declared ``resources`` ([{kind, name, play}]) against ``state`` (collect_resources)."""
    out = []
    for r in resources:
        got = state.get((r["kind"], r["name"]))
        if got is None:
            out.append(missing(KINDS[r["kind"]], r["name"], r["play"]))
        elif not got.get("enabled", True):
            alarm = r["kind"] == "alarm"
            off = "its actions are disabled" if alarm else "it is DISABLED"
            # PutMetricAlarm does not switch actions back on: the play cannot repair this one.
            fix = (
                f"aws cloudwatch enable-alarm-actions --alarm-names {r['name']}"
                if alarm
                else f"Run {r['play']}"
            )
            what = f"{KINDS[r['kind']]} {r['name']}"
            out.append(
                finding(
                    "drift.config",
                    "medium",
                    r["name"],
                    f"{what}: the config has it on, in the account {off}",
                    fix,
                )
            )
    return out
