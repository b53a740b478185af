"""Per-job report: thermo plots against simulated time, throughput, checkpoint timeline.

``lmpspot report SIM_ID --bucket B`` reads what a job left in S3 and writes, locally
(``--out``, default ``.state/reports/<sim_id>/``) and to
``s3://<bucket>/<results prefix><sim_id>/report/``:

* ``thermo.png``: temperature, energy, pressure and density against simulated time
  (ns, or tau in LJ units), each attempt's stretch shaded, every interrupted attempt's
  last step marked;
* ``rate.png``: ns/day (tau/day) over simulated time from the LAMMPS log's per-chunk
  ``Loop time`` lines, and over wall-clock time from the runner's EMF records when the
  attempt logs hold them (with GPU utilization where nvidia-smi reported it);
* ``checkpoints.png``: every checkpoint the log records (by attempt, along simulated
  time), the resume points, and the checkpoints still in S3;
* ``progress.png``: progress (percent of the steps, or steps) against wall-clock time
  over every attempt, interruptions marked; with a deadline (the deadline policy's), the
  deadline as a vertical line and the straight line from the start to 100 % at the deadline;
* ``report.md``: the attempts (with the cost ledger), the interruption telemetry
  (:mod:`lmpspot.telemetry`: interruptions, steps lost, recovery, capacity waits, spot and
  on-demand hours and cost, $/ns), the numbers, links to the PNGs;
* ``report.json``: the same numbers for machines.

The parts: :mod:`lmpspot.lammps_log` (the log's parser, series and rates),
:mod:`lmpspot.report_inputs` (reading S3 and CloudWatch Logs, the runner's EMF records),
:mod:`lmpspot.report_plots` (the PNGs) and :mod:`lmpspot.report_markdown` (``report.md``);
here: building the report from them, uploading it, the command line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lmpspot.lammps_log import LogData, Series, log_rates, parse_log, thermo_series
from lmpspot.report_inputs import ReportInputs, gather_inputs, parse_emf
from lmpspot.report_markdown import render_markdown
from lmpspot.report_plots import plot_checkpoints, plot_progress, plot_rate, plot_thermo, progress_points
from lmpspot.telemetry import sim_telemetry
from lmpspot.timefmt import utc_iso

# lmpspot.report's callers' names (tests, the roles' ``python -m lmpspot.report``), wherever defined.
__all__ = [
    "ReportInputs",
    "build_report",
    "cmd_report",
    "gather_inputs",
    "log_rates",
    "main",
    "parse_emf",
    "parse_log",
    "progress_points",
    "register",
    "render_markdown",
    "thermo_series",
    "upload_report",
]

REPORT_DIR = "report"


def _telemetry_of(inp: ReportInputs) -> dict[str, Any]:
    """:func:`lmpspot.telemetry.sim_telemetry` of the inputs' attempts (no price lookups:
    the costs are the ledger's when given, else unknown)."""
    region = (inp.ledger or {}).get("region") or "us-east-1"
    return sim_telemetry(inp.attempts, region=region, ledger=inp.ledger, price_fn=lambda *_a: None)


def build_report(inp: ReportInputs, out_dir: Path) -> dict[str, Any]:
    """Write the PNGs, ``report.md`` and ``report.json`` into ``out_dir``; return the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = parse_log(inp.log_text)
    series = thermo_series(data)
    if not len(series):
        raise ValueError(f"{inp.sim_id}: the LAMMPS log has no thermo rows from a run (nothing to plot)")
    rates = log_rates(data, series)
    emf: list[dict[str, Any]] = []
    for n, text in sorted(inp.attempt_logs.items()):
        emf += parse_emf(text, n)
    tel = inp.telemetry if inp.telemetry is not None else _telemetry_of(inp)
    files = _draw(inp, data, series, rates, emf, tel, out_dir)
    summary = _summary(inp, data, series, rates, emf, tel)
    summary["files"] = {k: v.name for k, v in files.items()}
    summary["warnings"] = data.warnings
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(render_markdown(summary))
    return summary


def _rate_unit(series: Series) -> str:
    return "ns/day" if series.time_unit == "ns" else f"{series.time_unit}/day"


def _draw(
    inp: ReportInputs,
    data: LogData,
    series: Series,
    rates: list[dict[str, Any]],
    emf: list[dict[str, Any]],
    tel: dict[str, Any],
    out_dir: Path,
) -> dict[str, Path]:
    """The four PNGs, by name."""
    return {
        "thermo": plot_thermo(
            series, data, inp.attempts, out_dir / "thermo.png", f"{inp.sim_id}: thermo output"
        ),
        "rate": plot_rate(
            rates,
            emf,
            inp.attempts,
            _rate_unit(series),
            series.time_unit,
            out_dir / "rate.png",
            f"{inp.sim_id}: throughput",
        ),
        "checkpoints": plot_checkpoints(
            data, series, inp.manifests, out_dir / "checkpoints.png", f"{inp.sim_id}: checkpoints"
        ),
        "progress": plot_progress(
            progress_points(
                emf, inp.attempts, (inp.status or {}).get("total_steps") or tel.get("total_steps")
            ),
            inp.attempts,
            tel,
            out_dir / "progress.png",
            f"{inp.sim_id}: progress against wall-clock time",
        ),
    }


def _summary(
    inp: ReportInputs,
    data: LogData,
    series: Series,
    rates: list[dict[str, Any]],
    emf: list[dict[str, Any]],
    tel: dict[str, Any],
) -> dict[str, Any]:
    """report.json's numbers (without the files and warnings)."""
    return {
        "sim_id": inp.sim_id,
        "generated_at": utc_iso(),
        "source": inp.source,
        "units": data.units,
        "time_unit": series.time_unit,
        "steps": {"first": series.steps[0], "last": series.steps[-1], "rows": len(series)},
        "simulated_time": {"first": series.time[0], "last": series.time[-1]},
        "attempts_in_log": data.attempts,
        "checkpoints_in_log": len(data.checkpoints),
        "checkpoints_in_s3": sorted(int(m["seq"]) for m in inp.manifests),
        "resumes": [asdict(r) for r in data.resumes],
        "last_row": {c: series.values[c][-1] for c in series.columns},
        "rate": {
            "unit": _rate_unit(series),
            "mean_from_log": (sum(r["per_day"] for r in rates) / len(rates)) if rates else None,
            "points_from_log": len(rates),
            "emf_records": len(emf),
        },
        "attempts": inp.attempts,
        "ledger": inp.ledger,
        "telemetry": tel,
        "status": inp.status,
    }


def upload_report(s3: Any, bucket: str, prefix: str, out_dir: Path, files: Iterable[str]) -> list[str]:
    """Put the report's files under ``s3://bucket/<prefix>``; return the keys."""
    types = {".png": "image/png", ".md": "text/markdown", ".json": "application/json"}
    keys = []
    for name in files:
        p = out_dir / name
        key = prefix + name
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=p.read_bytes(),
            ContentType=types.get(p.suffix, "application/octet-stream"),
            ChecksumAlgorithm="SHA256",
        )
        keys.append(key)
    return keys


def cmd_report(args: Any) -> int:
    """``lmpspot report SIM_ID --bucket B``: build, write locally, upload (see module doc)."""
    from lmpspot import status as st  # noqa: PLC0415

    c = st.clients(args)
    cfg = st.Settings(
        bucket=args.bucket,
        region=c["region"] or "us-east-1",
        queues=list(args.queue)
        or [q["jobQueueName"] for q in c["batch"].describe_job_queues().get("jobQueues", [])],
        sim_ids=[args.sim_id],
        results_prefix=args.results_prefix,
        checkpoint_prefix=args.checkpoint_prefix,
        project=args.project,
        local=st.is_local_endpoint(c["batch"]),
    )
    jobs = st.gather(
        cfg,
        s3=c["s3"],
        batch=c["batch"],
        ecs=c["ecs"],
        ec2=c["ec2"],
        price_fn=st.price_fn_for(args.prices, args.endpoint_url),
    )
    job = jobs[0] if jobs else None
    import boto3  # noqa: PLC0415

    logs_client = None
    if job is not None and job.source == "batch":
        kw = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
        logs_client = boto3.session.Session(region_name=cfg.region).client("logs", **kw)
    try:
        inp = gather_inputs(
            args.sim_id,
            s3=c["s3"],
            bucket=args.bucket,
            results_prefix=args.results_prefix,
            checkpoint_prefix=args.checkpoint_prefix,
            job=job,
            logs_client=logs_client,
        )
        out = Path(args.out or Path(".state") / "reports" / args.sim_id)
        summary = build_report(inp, out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"lmpspot report: {exc}", file=sys.stderr)
        return 2
    names = [*summary["files"].values(), "report.md", "report.json"]
    prefix = f"{args.results_prefix}{args.sim_id}/{REPORT_DIR}/"
    keys = [] if args.no_upload else upload_report(c["s3"], args.bucket, prefix, out, names)
    doc = {
        "sim_id": args.sim_id,
        "dir": str(out.resolve()),
        "files": names,
        "uploaded": [f"s3://{args.bucket}/{k}" for k in keys],
    }
    print(json.dumps(doc, indent=2))
    return 0


def register(sub: Any) -> None:
    from lmpspot import status as st  # noqa: PLC0415

    p = sub.add_parser("report", help="a job's report: thermo/throughput/checkpoint plots, attempts, cost")
    p.add_argument("sim_id", help="the simulation id (checkpoint namespace, results/<sim_id>/)")
    st.add_common_arguments(p)
    p.add_argument("--out", help="local directory (default .state/reports/<sim_id>)")
    p.add_argument("--no-upload", action="store_true", help="do not put the report in S3")
    p.set_defaults(func=cmd_report)


def main(argv: list[str] | None = None) -> int:
    """``python -m lmpspot.report SIM_ID --bucket B ...`` (the same as ``lmpspot report``)."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m lmpspot.report")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
