# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The account audit's report (docs/AUDIT.md): waivers, severity overrides, order, the summary
against the fail threshold, and the Markdown for people."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import SEVERITIES, rank


def apply_waivers(findings: Iterable[Mapping], waivers: Iterable[Mapping]) -> tuple[list, list]:
    """Split findings into (counted, waived); a waiver matches ``id``, ``resource`` and ``name`` (globs,
    the last two ``*`` when not given; a finding without a name matches only ``name: *``).

    Each waiver needs a ``reason``: a waived finding is listed in the report with it.
    """
    waivers = list(waivers)
    for w in waivers:
        if not w.get("id") or not str(w.get("reason", "")).strip():
            raise ValueError(f"audit waiver {dict(w)!r} needs an id and a reason")
    counted, waived = [], []
    for f in findings:
        hit = next(
            (
                w
                for w in waivers
                if fnmatch.fnmatchcase(f["id"], w["id"])
                and fnmatch.fnmatchcase(f["resource"], w.get("resource") or "*")
                and fnmatch.fnmatchcase(f.get("name", ""), w.get("name") or "*")
            ),
            None,
        )
        if hit is None:
            counted.append(dict(f))
        else:
            waived.append({**f, "waived": True, "waiver_reason": str(hit["reason"]).strip()})
    return counted, waived


def apply_severity_overrides(findings: Iterable[Mapping], overrides: Mapping[str, str]) -> list:
    for sev in overrides.values():
        rank(sev)
    return [{**f, "severity": overrides.get(f["id"], f["severity"])} for f in findings]


def sort_findings(findings: Iterable[Mapping]) -> list:
    return sorted(findings, key=lambda f: (-rank(f["severity"]), f["id"], f["resource"]))


def summarize(counted: list, waived: list, fail_severity: str) -> dict[str, Any]:
    threshold = rank(fail_severity)
    by_sev = {s: sum(1 for f in counted if f["severity"] == s) for s in SEVERITIES}
    failing = [f for f in counted if rank(f["severity"]) >= threshold]
    return {
        "by_severity": by_sev,
        "counted": len(counted),
        "waived": len(waived),
        "fail_severity": fail_severity,
        "at_or_above_threshold": len(failing),
        "failed": bool(failing),
    }


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _where(f: Mapping[str, Any]) -> str:
    return _md(
        f"{f['resource']} ({f['name']})"
        if f.get("name") and f["name"] not in f["resource"]
        else f["resource"]
    )


def render_markdown(report: Mapping[str, Any]) -> str:
    s = report["summary"]
    lines = [
        f"# lmpspot audit: {report['project']} / {report['environment']}",
        "",
        f"- account {report['account']}, region {report['region']}, generated {report['generated_at']}",
        f"- threshold: findings at or above **{s['fail_severity']}** fail the audit "
        f"({s['at_or_above_threshold']} do: {'FAILED' if s['failed'] else 'passed'})",
        f"- counted findings: {s['counted']} ("
        + ", ".join(f"{k} {v}" for k, v in reversed(list(s["by_severity"].items())))
        + f"); waived: {s['waived']}",
        f"- checks run: {', '.join(report['checks'])}",
        "",
        "## Findings",
        "",
    ]
    if report["findings"]:
        lines += ["| severity | id | resource | message | fix |", "|---|---|---|---|---|"]
        lines += [
            f"| {f['severity']} | {f['id']} | {_where(f)} | {_md(f['message'])} | {_md(f['fix'])} |"
            for f in report["findings"]
        ]
    else:
        lines.append("None.")
    lines += ["", "## Waived (documented config choices; not counted)", ""]
    if report["waived"]:
        lines += ["| severity | id | resource | message | reason |", "|---|---|---|---|---|"]
        lines += [
            f"| {f['severity']} | {f['id']} | {_where(f)} | {_md(f['message'])} | {_md(f['waiver_reason'])} |"
            for f in report["waived"]
        ]
    else:
        lines.append("None.")
    if report.get("errors"):
        lines += ["", "## Could not check", ""]
        lines += [f"- {_md(e)}" for e in report["errors"]]
    return "\n".join(lines) + "\n"
