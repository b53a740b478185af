"""The ``lmpspot`` command line.

``lmpspot run INPUT --job-id ID --workdir DIR [--bucket B [--prefix P] [--endpoint-url URL]]
[--interval 600] [--retention 3] [--force] [--var NAME VALUE ...]``
    Run (or resume) an input script with checkpoints.  Exit codes: 0 finished,
    1 unexpected error, 2 bad input, 75 checkpointed after a spot notice/SIGTERM
    (see :mod:`lmpspot.runner`).  ``--mpi-ranks N`` runs N MPI ranks under
    ``mpiexec``/``mpirun`` (see :mod:`lmpspot.mpi`).

``lmpspot check INPUT``
    Parse an input script and print its stages and how every command is replayed on
    resume; exit 2 with the reason if the script is not supported.

``lmpspot checkpoints ...``
    Inspect/verify checkpoints (from :mod:`lmpspot.checkpoint_cli`, when installed).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from lmpspot import accel
from lmpspot.deadline import parse_deadline
from lmpspot.queue_policy import queue_kind
from lmpspot.runner import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    Runner,
    RunnerConfig,
)
from lmpspot.running import check_job_id
from lmpspot.script import ScriptError, parse_script


def _attempt_from_env() -> int:
    try:
        return int(os.environ.get("AWS_BATCH_JOB_ATTEMPT", "0"))
    except ValueError:
        return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run or resume a LAMMPS input script with checkpoints")
    p.add_argument("input", type=Path, help="LAMMPS input script")
    p.add_argument("--job-id", required=True, help="job identifier (checkpoint namespace)")
    p.add_argument("--workdir", type=Path, required=True, help="run directory (cwd of LAMMPS)")
    _add_store_options(p)
    _add_checkpoint_options(p)
    _add_lammps_options(p)
    _add_watch_options(p)
    _add_io_options(p)
    _add_mpi_options(p)
    _add_unsafe_flag(p)
    _add_resume_guard_options(p)
    p.set_defaults(func=cmd_run)


def _add_store_options(p: argparse.ArgumentParser) -> None:
    """``run``: S3 store of the checkpoints."""
    p.add_argument("--bucket", help="S3 bucket for checkpoints (omit: local only)")
    p.add_argument("--prefix", default="checkpoints/", help="S3 key prefix (default %(default)s)")
    p.add_argument("--endpoint-url", help="S3 endpoint URL (e.g. a local moto server)")


def _add_checkpoint_options(p: argparse.ArgumentParser) -> None:
    """``run``: how often checkpoints are written and how many are kept."""
    p.add_argument(
        "--interval",
        type=float,
        default=600.0,
        help="seconds of wall time between checkpoints (default %(default)s)",
    )
    # Test-only: accept --interval below runner.MIN_INTERVAL (down to 0.05 s). Hidden from --help.
    p.add_argument("--allow-short-interval", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--retention", type=int, default=3, help="checkpoints kept (default 3)")
    p.add_argument("--force", action="store_true", help="resume even if the input or LAMMPS build changed")


def _add_lammps_options(p: argparse.ArgumentParser) -> None:
    """``run``: the LAMMPS run: variables, arguments, chunks, seeds."""
    p.add_argument(
        "--var",
        nargs="+",
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="like lmp -var NAME VALUE...; part of the input hash",
    )
    p.add_argument(
        "--lammps-arg",
        action="append",
        default=[],
        help="extra LAMMPS command-line argument (repeat; e.g. --lammps-arg=-sf --lammps-arg=gpu)",
    )
    p.add_argument("--attempt", type=int, default=None, help="default: $AWS_BATCH_JOB_ATTEMPT")
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=None,
        help="shortest wall s per chunk (default 5, as --max-chunk-seconds)",
    )
    p.add_argument(
        "--max-chunk-seconds",
        type=float,
        default=5.0,
        help="longest wall s per chunk",
    )
    p.add_argument(
        "--notice-grace",
        type=float,
        default=8.0,
        help="max s to wait for a bitwise-exact checkpoint step after a notice or SIGTERM",
    )
    p.add_argument(
        "--keep-seeds",
        action="store_true",
        help="on resume, re-issue random seeds as written (default: derive fresh ones, docs/RUNNER.md)",
    )


def _add_watch_options(p: argparse.ArgumentParser) -> None:
    """``run``: progress, metrics, spot notices and the night window."""
    p.add_argument("--progress-every", type=float, default=60.0, help="s between progress lines")
    p.add_argument(
        "--emf",
        choices=("auto", "on", "off"),
        default="auto",
        help="CloudWatch EMF metric lines on stderr (auto: on in AWS Batch)",
    )
    p.add_argument("--screen", action="store_true", help="let LAMMPS print to the screen")
    p.add_argument("--imds-endpoint", help="IMDS base URL (default: EC2's)")
    p.add_argument(
        "--imds",
        choices=("auto", "on", "off"),
        default="auto",
        help="watch IMDS for spot notices (auto: when an endpoint is configured; Batch jobs get the notice "
        "as SIGTERM from the host instead, docs/COMPUTE.md)",
    )
    p.add_argument("--imds-poll", type=float, default=5.0, help="s between IMDS polls")
    p.add_argument(
        "--window",
        default=os.environ.get("LMPSPOT_WINDOW") or None,
        help="night window ('weekly 20:00-06:00 Europe/Berlin MON-FRI' or 'cycle OPEN_S CLOSED_S "
        "[ANCHOR]'; default $LMPSPOT_WINDOW): exit 75 at once while it is closed, checkpoint and "
        "exit 75 when it closes (lmpspot.window, docs/NIGHT_WINDOW.md)",
    )


def _add_io_options(p: argparse.ArgumentParser) -> None:
    """``run``: job inputs and outputs in S3."""
    p.add_argument(
        "--fetch-inputs",
        action="store_true",
        help="first download s3://BUCKET/<inputs prefix><job id>/ (what `submit` uploaded) next to INPUT",
    )
    p.add_argument(
        "--results-prefix",
        default=os.environ.get("LMPSPOT_RESULTS_PREFIX", "results/"),
        help="outputs (log, dumps, ...) go to s3://BUCKET/<this><job id>/ "
        "(default $LMPSPOT_RESULTS_PREFIX or %(default)s)",
    )
    p.add_argument(
        "--inputs-prefix",
        default=os.environ.get("LMPSPOT_INPUTS_PREFIX", "inputs/"),
        help="S3 key prefix of job inputs (default $LMPSPOT_INPUTS_PREFIX or %(default)s)",
    )


def _add_mpi_options(p: argparse.ArgumentParser) -> None:
    """``run``: MPI ranks and their launcher."""
    p.add_argument(
        "--mpi-ranks",
        type=int,
        default=1,
        help="MPI ranks (one per GPU); >1 starts them with the MPI launcher, rank 0 "
        "checkpoints, syncs and decides for all (default %(default)s: no MPI launcher)",
    )
    p.add_argument(
        "--mpi-launcher",
        default=None,
        help="MPI launcher command, e.g. 'mpirun --bind-to none' (default $LMPSPOT_MPI_LAUNCHER, "
        "else the mpiexec next to python, else mpirun/mpiexec on PATH); -n N follows it",
    )
    p.add_argument(
        "--mpi-gpu-bind",
        choices=("none", "local-rank"),
        default=os.environ.get("LMPSPOT_MPI_GPU_BIND", "none"),
        help="local-rank: each rank sees only GPU <local rank> (CUDA_VISIBLE_DEVICES) -- pair it "
        "with 1 GPU in the LAMMPS args; none (default): LAMMPS maps ranks to GPUs itself "
        "(KOKKOS -k on g N uses the launcher's local rank)",
    )


def _add_resume_guard_options(p: argparse.ArgumentParser) -> None:
    """``run``: how long to wait for S3, the lease on the simulation (and a test-only stop)."""
    p.add_argument(
        "--store-wait",
        type=float,
        default=float(os.environ.get("LMPSPOT_STORE_WAIT") or 300),
        help="seconds to keep retrying when S3 cannot say where to resume (unreachable, "
        "throttled, refused, no checkpoint verifies) before exiting 76 without running "
        "an MD step (default $LMPSPOT_STORE_WAIT or %(default)s)",
    )
    p.add_argument(
        "--lease-ttl",
        type=float,
        default=float(os.environ.get("LMPSPOT_LEASE_TTL") or 180),
        help="seconds after its last renewal (every ttl/6) that a crashed runner's lease on "
        "the simulation expires (default $LMPSPOT_LEASE_TTL or %(default)s)",
    )
    p.add_argument("--stop-after-checkpoints", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--deadline",
        default=os.environ.get("LMPSPOT_DEADLINE") or None,
        help="finish by this time (ISO 8601 UTC, e.g. 2026-12-20T18:00Z; 'none': no deadline): "
        "the deadline policy moves the job between the Spot and On-Demand queues at "
        "checkpoints (docs/DEADLINE.md; default $LMPSPOT_DEADLINE)",
    )
    p.add_argument(
        "--changeover",
        type=float,
        default=float(os.environ["LMPSPOT_CHANGEOVER_S"]) if os.environ.get("LMPSPOT_CHANGEOVER_S") else None,
        help="seconds one move between queues costs, for the deadline policy (default: "
        "measured from the attempt history, else 900; $LMPSPOT_CHANGEOVER_S)",
    )


def _add_unsafe_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-unsafe-commands",
        action="store_true",
        default=os.environ.get("LMPSPOT_ALLOW_UNSAFE_COMMANDS", "").lower() in ("1", "true", "yes"),
        help="accept input-script commands that run arbitrary code (shell, plugin, pair_style "
        "python, fix python/*); refused by default (also $LMPSPOT_ALLOW_UNSAFE_COMMANDS=true)",
    )


def _make_watcher(args: argparse.Namespace):
    """A started SpotNoticeWatcher, or None when IMDS watching is off."""
    # Not for Batch jobs: they cannot read IMDS (hop limit 1, the host's IMDS rule); the
    # host's handler SIGTERMs them on a notice.
    want = args.imds == "on" or (
        args.imds == "auto"
        and bool(args.imds_endpoint or os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
    )
    from lmpspot.window import with_window  # noqa: PLC0415

    if not want:
        return with_window(None, args.window, log=_log)
    from lmpspot.imds import SpotNoticeWatcher  # noqa: PLC0415

    spot = SpotNoticeWatcher(endpoint=args.imds_endpoint, interval=args.imds_poll, log=_log).start()
    return with_window(spot, args.window, log=_log)


def _log(msg: str) -> None:
    print(f"lmpspot: {msg}", file=sys.stderr, flush=True)


def _quiet(msg: str) -> None:
    """The log of MPI ranks other than 0: rank 0 reports for the job."""


def _array_job_id(job_id: str, variables: dict[str, list[str]]) -> str:
    """Children of a Batch array job share the submitted sim id: give each its own
    checkpoint namespace (``<id>-<index>``) and the index as LAMMPS variable
    ``array_index`` (a sweep input picks its parameter with it).  ``LMPSPOT_ARRAY_INDEX``
    carries the index of a child the On-Demand fallback resubmitted as a plain job."""
    index = os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX") or os.environ.get("LMPSPOT_ARRAY_INDEX")
    if index is None or not index.isdigit():
        return job_id
    variables.setdefault("array_index", [index])
    return f"{job_id}-{index}"


def _fetch_inputs(args: argparse.Namespace) -> int | None:
    """Download the job's inputs; an exit code on failure, None when all is in place."""
    if not args.bucket:
        _log("--fetch-inputs needs --bucket")
        return EXIT_BAD_INPUT
    import boto3  # noqa: PLC0415

    from lmpspot.inputs import InputChecksumError, fetch_inputs  # noqa: PLC0415

    prefix = f"{args.inputs_prefix}{args.job_id}/"
    client = boto3.client("s3", endpoint_url=args.endpoint_url)
    try:
        files = fetch_inputs(client, args.bucket, prefix, args.input.parent, log=_log)
    except InputChecksumError as e:  # a transfer went wrong: a retry may succeed
        _log(f"inputs: {e}")
        return EXIT_FAILED
    if not files:
        _log(f"no inputs under s3://{args.bucket}/{prefix}: submit the job with playbooks/submit.yml")
        return EXIT_BAD_INPUT
    _log(f"fetched {len(files)} input file(s) from s3://{args.bucket}/{prefix}")
    return None


def _launch_ranks(args: argparse.Namespace) -> int:
    """``--mpi-ranks N`` outside MPI: fetch the inputs once, then start N ranks of this
    same command under the MPI launcher (lmpspot.mpi.launch) and return rank 0's code."""
    from lmpspot import mpi  # noqa: PLC0415

    try:
        launcher = mpi.launcher_command(args.mpi_launcher)
    except mpi.MpiError as e:
        _log(str(e))
        return EXIT_FAILED
    if args.fetch_inputs:
        failed = _fetch_inputs(args)
        if failed is not None:
            return failed
    rank_argv = mpi.strip_launch_options(args.raw_argv, drop_flags=("--fetch-inputs",))
    return mpi.launch(args.mpi_ranks, rank_argv, launcher=launcher, log=_log, exit_failed=EXIT_FAILED)


def _bind_gpu(mode: str) -> None:
    """``--mpi-gpu-bind local-rank``: show this rank only GPU <local rank> (of the visible ones)."""
    from lmpspot import mpi  # noqa: PLC0415

    if mode != "local-rank":
        return
    lr = mpi.local_rank()
    if lr is None:
        _log("--mpi-gpu-bind local-rank: the MPI launcher set no local rank variable; GPUs left as they are")
        return
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    os.environ["CUDA_VISIBLE_DEVICES"] = visible[lr % len(visible)] if visible else str(lr)


def _run_rank(args: argparse.Namespace) -> int:
    """One rank of ``--mpi-ranks N``: the usual run, with rank 0 deciding for all.

    Rank 0 alone has the S3 store, the spot watcher and the log; any exception in any
    rank aborts the whole MPI job (the launcher then reports a failure, exit 1)."""
    import traceback  # noqa: PLC0415

    from lmpspot import mpi  # noqa: PLC0415

    _bind_gpu(args.mpi_gpu_bind)
    world = mpi.World.init()
    root = world.rank == 0
    if world.size != args.mpi_ranks:
        if root:
            _log(f"--mpi-ranks {args.mpi_ranks} but the MPI world has {world.size} ranks")
        world.finalize()
        return EXIT_BAD_INPUT
    if not root:
        world.ready()  # rank 0 publishes its pid once its signal handlers are in place
    rc = EXIT_FAILED
    runner = None
    try:
        if args.fetch_inputs:  # started by a user's mpiexec (our launcher fetches itself)
            failed = world.bcast(_fetch_inputs(args) if root else None)
            if failed is not None:
                rc = failed
                return rc
        runners: list[Runner] = []
        rc = _cmd_run_single(args, world=world, runners=runners)
        runner = runners[0] if runners else None
        return rc if root else EXIT_OK
    except BaseException:
        print(f"lmpspot[rank {world.rank}]: unexpected error, aborting the MPI job:", file=sys.stderr)
        traceback.print_exc()
        world.abort(EXIT_FAILED)
        raise
    finally:
        if root:
            mpi.write_result(rc)
        world.barrier()  # polled: the others do not spin while rank 0 uploads
        if runner is not None:
            runner.finalize_accelerator()
        world.finalize()


def cmd_run(args: argparse.Namespace) -> int:
    from lmpspot.runner import EXIT_CHECKPOINTED  # noqa: PLC0415
    from lmpspot.window import WindowError, closed_now  # noqa: PLC0415

    try:
        closed = closed_now(args.window)
    except WindowError as e:
        _log(f"--window: {e}")
        return EXIT_BAD_INPUT
    if closed:  # nothing to checkpoint yet: retry when the window is open (docs/NIGHT_WINDOW.md)
        _log(f"{closed}: not starting; exit {EXIT_CHECKPOINTED} to be retried")
        return EXIT_CHECKPOINTED
    if args.mpi_ranks < 1:
        _log(f"--mpi-ranks must be >= 1 (got {args.mpi_ranks})")
        return EXIT_BAD_INPUT
    if args.mpi_ranks > 1:
        from lmpspot import mpi  # noqa: PLC0415

        return _run_rank(args) if mpi.in_mpi_rank() else _launch_ranks(args)
    return _cmd_run_single(args)


def _note_lifecycle() -> None:
    """The attempt record's lifecycle (spot/on-demand) from the Batch queue it runs in."""
    kind = queue_kind()
    if kind and not os.environ.get("LMPSPOT_LIFECYCLE"):
        os.environ["LMPSPOT_LIFECYCLE"] = kind


def _cmd_run_single(args: argparse.Namespace, world=None, runners: list[Runner] | None = None) -> int:
    """The run itself (one process, or one MPI rank when ``world`` is given); the
    Runner is appended to ``runners`` when given."""
    root = world is None or world.rank == 0
    variables: dict[str, list[str]] = {}
    for v in args.var:
        if len(v) < 2:
            _log(f"--var {v[0]} needs a value")
            return EXIT_BAD_INPUT
        variables[v[0]] = v[1:]
    if args.fetch_inputs and world is None:
        failed = _fetch_inputs(args)
        if failed is not None:
            return failed
    job_id = _array_job_id(args.job_id, variables)
    try:
        lammps_args = accel.with_default(list(args.lammps_arg))
        check_job_id(job_id)
        deadline = parse_deadline(args.deadline)
    except ValueError as e:
        _log(str(e))
        return EXIT_BAD_INPUT
    cfg = RunnerConfig(
        input=args.input.resolve(),
        job_id=job_id,
        workdir=args.workdir,
        interval=args.interval,
        retention=args.retention,
        force=args.force,
        attempt=args.attempt if args.attempt is not None else _attempt_from_env(),
        variables=variables,
        lammps_args=lammps_args,
        chunk_seconds=args.chunk_seconds,
        max_chunk_seconds=args.max_chunk_seconds,
        fresh_seeds=not args.keep_seeds,
        notice_grace=args.notice_grace,
        progress_every=args.progress_every,
        allow_short_interval=args.allow_short_interval,
        screen=args.screen,
        emf=args.emf == "on" or (args.emf == "auto" and bool(os.environ.get("AWS_BATCH_JOB_ID"))),
        stop_after_checkpoints=args.stop_after_checkpoints,
        results_prefix=args.results_prefix,
        allow_unsafe=args.allow_unsafe_commands,
        store_wait=args.store_wait,
        lease_ttl=args.lease_ttl,
        deadline=deadline,
        changeover_s=args.changeover,
    )
    s3 = None
    if args.bucket and root:
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        from lmpspot.s3store import S3Store  # noqa: PLC0415

        # Bounded per call (the runner's own retries decide how long S3 may be away).
        conf = Config(connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 4})
        client = boto3.client("s3", endpoint_url=args.endpoint_url, config=conf)
        s3 = S3Store(client, args.bucket, args.prefix, job_id, log=_log)
    _note_lifecycle()
    watcher = None
    try:
        watcher = _make_watcher(args) if root else None
    except ImportError as e:
        _log(f"spot notice watching unavailable: {e}")
    log = _log if root else _quiet
    try:
        runner = Runner(cfg, s3=s3, watcher=watcher, log=log, world=world)
    except ValueError as e:
        log(f"bad arguments: {e}")
        return EXIT_BAD_INPUT
    if runners is not None:
        runners.append(runner)
    try:
        return runner.run()
    finally:
        if watcher is not None:
            watcher.stop()
        if world is None:  # the process's last LAMMPS call (the MPI ranks do it in _run_rank)
            runner.finalize_accelerator(mpi=True)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        plan = parse_script(args.input, allow_unsafe=args.allow_unsafe_commands)
    except ScriptError as e:
        _log(f"bad input: {e}")
        return EXIT_BAD_INPUT
    for s in plan.stages:
        c = plan.commands[s.command]
        print(f"stage {s.index}: {s.name:<24} {c.where}: {c.text}")
    if args.verbose:
        for c in plan.commands:
            print(f"  {c.kind.value:<9} {c.where}: {c.text}")
    print(f"input files: {', '.join(str(f) for f in plan.input_files) or '(none)'}")
    print(f"input hash: {plan.input_hash()}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmpspot", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    p = sub.add_parser("check", help="validate an input script and show its stages")
    p.add_argument("input", type=Path)
    p.add_argument("-v", "--verbose", action="store_true", help="list every command's kind")
    _add_unsafe_flag(p)
    p.set_defaults(func=cmd_check)
    try:
        mod = importlib.import_module("lmpspot.checkpoint_cli")
    except ImportError:
        mod = None
    if mod is not None and hasattr(mod, "register"):
        mod.register(sub)
    # Day-2 views: `lmpspot status`, `lmpspot report`, `lmpspot plan` (lmpspot.planner).
    for name in ("lmpspot.status", "lmpspot.report", "lmpspot.planner"):
        importlib.import_module(name).register(sub)
    sub.add_parser("spot-handler", help="host daemon: on a spot notice, signal registered simulations")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lmpspot`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["spot-handler"]:
        from lmpspot import hostagent  # noqa: PLC0415

        return int(hostagent.main(argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    args.raw_argv = list(argv)  # --mpi-ranks: the ranks rerun these arguments
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
