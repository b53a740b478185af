"""``report.md``: the summary table, the plots, the interruption telemetry section, the
attempts (with the cost ledger) and the parser's warnings, from ``report.json``'s summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lmpspot.report_plots import attempt_end_label


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e12:
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _hm(seconds: Any) -> str:
    return "-" if seconds is None else f"{float(seconds) / 60:.1f} min"


def telemetry_markdown(tel: Mapping[str, Any], progress_png: str | None) -> list[str]:
    """The report's "Interruptions and cost" section."""
    lines = ["## Interruptions and cost", ""]
    if progress_png:
        lines += [f"![progress]({progress_png})", ""]
    if not tel:
        return [*lines, "No attempt records: no interruption telemetry.", ""]
    rec, hours, cost = tel.get("recovery_s") or {}, tel.get("hours") or {}, tel.get("cost_usd") or {}
    per = _fmt(tel.get("steps_lost_per_interruption"))
    usd_ns = tel.get("usd_per_ns")
    table = [
        ("interruptions", str(tel.get("interruptions", 0))),
        ("steps lost", f"{tel.get('steps_lost', 0)} ({per} per interruption)"),
        ("recovery (notice -> first new MD step)", f"mean {_hm(rec.get('mean'))}, max {_hm(rec.get('max'))}"),
        ("waiting for capacity", _hm(tel.get("capacity_wait_s"))),
    ]
    if tel.get("window_wait_s"):
        table.append(("waiting for the night window", _hm(tel.get("window_wait_s"))))
    for cap in ("spot", "on-demand", "local", "unknown"):
        if hours.get(cap):
            usd = cost.get(cap)
            table.append(
                (f"{cap} hours", f"{hours[cap]:.3f} h" + (f", ${usd:.2f}" if usd is not None else ""))
            )
    table.append(("cost per simulated ns", "-" if usd_ns is None else f"${usd_ns:.4g}"))
    if tel.get("deadline"):
        queue = tel.get("policy_queue") or "-"
        table += [
            ("deadline", str(tel["deadline"])),
            ("projected finish", f"{tel.get('projected_finish') or '-'} (queue now: {queue})"),
        ]
    lines += ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in table], ""]
    rows = tel.get("interruption_list") or []
    if rows:
        lines += [
            "| attempt | at | capacity | steps lost | recovery | to next start | reason |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            cells = [
                r["attempt"], r.get("at") or "-", r.get("capacity") or "-", _fmt(r.get("steps_lost")),
                _hm(r.get("recovery_s")), _hm(r.get("restart_s")), r.get("reason") or "-",
            ]  # fmt: skip
            lines.append("| " + " | ".join(map(str, cells)) + " |")
        lines.append("")
    return lines


def render_markdown(s: Mapping[str, Any]) -> str:
    lines = [
        f"# Simulation report: {s['sim_id']}",
        "",
        f"Generated {s['generated_at']} from {s.get('source') or 'the job outputs'}.",
        "",
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| units | {s['units']} (simulated time in {s['time_unit']}) |",
        f"| steps | {s['steps']['first']} .. {s['steps']['last']} ({s['steps']['rows']} thermo rows) |",
        f"| simulated time | {_fmt(s['simulated_time']['first'])} .. {_fmt(s['simulated_time']['last'])} "
        f"{s['time_unit']} |",
        f"| attempts (in the log) | {s['attempts_in_log']} |",
        f"| checkpoints written (in the log) | {s['checkpoints_in_log']} |",
        f"| checkpoints still in S3 | {', '.join(map(str, s['checkpoints_in_s3'])) or '-'} |",
        f"| mean throughput (log) | {_fmt(s['rate']['mean_from_log'])} {s['rate']['unit']} |",
    ]
    st = s.get("status") or {}
    if st:
        lines.append(
            f"| runner status | step {st.get('step')}/{st.get('total_steps')} "
            f"({_fmt(st.get('progress_percent'))} %), updated {st.get('updated_at')} |"
        )
    lines += ["", "Last thermo row: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in s["last_row"].items()), ""]
    lines += [
        "## Thermo output",
        "",
        "Shaded: the stretch of simulated time each attempt contributed (where attempts overlap, "
        "the later attempt's rows are shown). Dashed red: where an interrupted attempt stopped.",
        "",
        f"![thermo]({s['files']['thermo']})",
        "",
        "## Throughput",
        "",
        f"![rate]({s['files']['rate']})",
        "",
        "## Checkpoints",
        "",
        f"![checkpoints]({s['files']['checkpoints']})",
        "",
    ]
    lines += telemetry_markdown(s.get("telemetry") or {}, s["files"].get("progress"))
    if s["resumes"]:
        lines += ["Resumes: " + "; ".join(f"attempt {r['attempt']} from checkpoint {r['seq']} "
                                          f"(step {r['step']})" for r in s["resumes"]), ""]  # fmt: skip
    lines += ["## Attempts", "", *_attempts_markdown(s)]
    if s.get("warnings"):
        lines += ["## Warnings", "", *[f"- {w}" for w in s["warnings"]], ""]
    return "\n".join(lines)


def _attempts_markdown(s: Mapping[str, Any]) -> list[str]:
    """The "Attempts" section's body: the cost ledger's table, else each attempt's end."""
    lines: list[str] = []
    ledger = s.get("ledger") or {}
    rows = ledger.get("attempts") or []
    if rows:
        lines += [
            "| attempt | started | stopped | hours | instance | capacity | USD/h | cost USD | ended |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['attempt']} | {r.get('started_at') or '-'} | {r.get('stopped_at') or 'running'} | "
                f"{_fmt(r.get('hours'), 3)} | {r.get('instance_type') or '-'} | {r.get('capacity') or '-'} | "
                f"{_fmt(r.get('usd_per_hour'))} | {_fmt(r.get('cost_usd'))} | {r.get('ended') or '-'} |"
            )
        lines += [
            "",
            f"Cost so far: **{ledger.get('total_label', '-')}**. {ledger.get('note', '')}".rstrip(),
            "",
        ]
        srcs = sorted({r.get("price_source") for r in rows if r.get("price_source")})
        if srcs:
            lines += ["Prices: " + "; ".join(srcs), ""]
    elif s.get("attempts"):
        for a in s["attempts"]:
            lines.append(f"- attempt {a.get('attempt')}: {attempt_end_label(a)}")
        lines.append("")
    else:
        lines += ["No attempt records found.", ""]
    return lines
