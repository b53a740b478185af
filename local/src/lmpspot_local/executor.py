"""The local executor: run an AWS Batch job on this machine, the way Batch would.

Why it exists
-------------
In local mode jobs are submitted to the local AWS (moto) exactly as to AWS: the same
``SubmitJob`` call, the same job queue and job definition.  moto, configured with
``{"batch": {"use_docker": false}}``, then marks every job ``SUCCEEDED`` at once and runs
nothing.  **moto's job status is therefore meaningless here**; the local executor is "the
machine that executes the job": it reads the job and its job definition back from the
local AWS and runs the container under podman, attempt after attempt, with Batch's retry
semantics.  Its record (``s3://<bucket>/<results prefix><sim_id>/attempts.json``, and
what :func:`run_job` returns) is what ``DescribeJobs`` would say on AWS: the job's status
(RUNNABLE from the moment the executor takes it) and the scheduler's view of each attempt
(exit code, status reason, retry decision, log).  The simulation's attempt history is the
runner's own records (:mod:`lmpspot.attempts`), which status, reports and the cost ledger
read (:mod:`lmpspot.history`).

What it does, per job
---------------------
* ``DescribeJobs`` -> ``DescribeJobDefinitions`` (by ARN): image, command with
  ``Ref::name`` placeholders (whole arguments, as in the compute layer's job definitions)
  replaced by the job's parameters (the job definition's ``parameters`` are defaults), the
  environment (job definition, then the job's container overrides), ``VCPU`` ->
  ``--cpus``, ``MEMORY`` (MiB) -> ``--memory``, ``GPU`` -> ``--device nvidia.com/gpu=all``
  (CDI) when this machine has NVIDIA devices (else a warning: the job runs on CPU),
  ``linuxParameters.sharedMemorySize`` -> ``--shm-size``, ``initProcessEnabled`` ->
  ``--init``, the attempt timeout and the
  retry strategy (the job's own, else the job definition's).
* Each attempt is one ``podman run --network host`` (the local AWS and the IMDS stand-in
  are on loopback) with ``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ATTEMPT`` (1-based),
  ``AWS_BATCH_JQ_NAME``, ``AWS_BATCH_JOB_ARRAY_INDEX`` (array children), the local AWS's
  endpoint and dummy credentials (and its CA, mounted, as ``AWS_CA_BUNDLE``, when the
  local AWS speaks https). No IMDS endpoint: as on the Batch hosts (hop limit 1, the
  launch template's IMDS rule), the job cannot read instance metadata; the executor's
  per-job :class:`~lmpspot_local.imds_stub.ImdsStub` (instance ``i-local0000``) is the
  host's.
  ``CONTAINERS_CONF`` is ``.state/containers.conf`` when present.  An image on a loopback
  registry is pulled with ``--tls-verify=false``.
* Attempt timeout: ``podman stop -t 30`` (SIGTERM, SIGKILL 30 s later), status reason
  ``Job attempt duration exceeded timeout``; as on AWS a timed-out job is never retried.
* Spot reclaim rehearsal: ``inject_notice_at`` seconds into attempt ``inject_on_attempt``
  the IMDS stand-in publishes an interruption notice for ``notice_lead_s`` (120, as on
  EC2) later, and the executor does what the hosts' handler does (launch template user
  data, docs/COMPUTE.md): SIGTERM to the container.  If the container still runs when
  that time comes, the executor kills it (``podman kill``) and the attempt's status reason is
  ``Host EC2 (instance i-local0000) terminated.``, as on AWS.
* Night window (``window``, a :mod:`lmpspot.window` spec; off by default): the executor
  plays the compute environment that ``roles/night_window`` enables at the opening and
  disables at the close.  No attempt starts while the window is closed (the job waits,
  RUNNABLE); each attempt gets the window as ``LMPSPOT_WINDOW``, so ``lmpspot run`` in the
  container checkpoints and exits 75 at the close by itself; a container still running
  ``window_grace_s`` after the close is stopped (SIGTERM, SIGKILL ``kill_grace_s`` later).
  As on Batch, each nightly pause uses one of the job's attempts (docs/NIGHT_WINDOW.md).
* Retry decision (:func:`decide`), exactly like Batch: ``evaluateOnExit`` rules in order,
  a rule matches when every field it sets matches (patterns may end with ``*``); the first
  match decides RETRY/EXIT; no match means RETRY while attempts remain; exit code 0 means
  SUCCEEDED; attempts exhausted means FAILED.

* Spot -> On-Demand fallback (:mod:`lmpspot_local.fallback`): ``capacity-cancel JOB_ID`` cancels
  a job the way the Spot queue's ``jobStateTimeLimitActions`` would and carries out the
  registered EventBridge rule and state machine, which submit the On-Demand job.

Command line: ``python -m lmpspot_local.executor run JOB_ID`` (``--inject-notice-at S`` ...),
``python -m lmpspot_local.executor show SIM_ID``, ``python -m lmpspot_local.executor serve --queue Q``,
``python -m lmpspot_local.executor capacity-cancel JOB_ID``.
The AWS endpoint comes from the usual boto3 settings (``AWS_ENDPOINT_URL``...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lmpspot import spottrace
from lmpspot.job_record import job_record_key, read_job_record
from lmpspot.timefmt import utc_iso as _utc_iso
from lmpspot_local.capacity import QueueKinds
from lmpspot_local.container_env import (
    NonLoopbackEndpoint,
    is_loopback_registry,
    require_loopback_endpoint,
    write_env_file,
)
from lmpspot_local.fallback import CANCELLED_REASON

LogFn = Callable[[str], None]

LOCAL_INSTANCE_ID = "i-local0000"
SPOT_RECLAIM_REASON = f"Host EC2 (instance {LOCAL_INSTANCE_ID}) terminated."
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
EXITED_REASON = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
PULL_REASON = "CannotPullContainerError"
SPOT_NOTICE_LEAD_S = 120.0  # EC2's two-minute warning
KILL_GRACE_S = 30.0  # Batch: SIGTERM, then SIGKILL after 30 s
# The runner's deadline-policy moves (lmpspot.runner.EXIT_MOVE_*): the job ends FAILED and
# the compute layer's rule resubmits it to the other queue.
MOVE_EXIT_CODES = (22, 23)
MAX_HANDOFFS = 50  # jobs followed from one run_job (moves and capacity fallbacks)
# After the night window closes, the runner's own watcher stops the job (its notice grace
# is 30 s by default); the executor stops a container still running this much later.
WINDOW_GRACE_S = 60.0
RECORD_FORMAT = 1
# Batch's own variables: never taken from a job's environment, always set per attempt.
RESERVED_ENV_PREFIX = "AWS_BATCH_"
DEFAULT_RESULTS_PREFIX = "results/"

RETRY = "RETRY"
EXIT = "EXIT"


def _default_log(msg: str) -> None:
    print(f"lmpspot-executor: {msg}", file=sys.stderr, flush=True)


def utc_iso(t: float | None = None) -> str:
    """``2026-11-28T22:31:45.123Z`` for ``t`` (default now)."""
    return _utc_iso(time.time() if t is None else t, digits=3)


# --------------------------------------------------------------------------------------
# Retry semantics (pure)
# --------------------------------------------------------------------------------------
def glob_match(pattern: str, value: str | None) -> bool:
    """Batch's pattern match: exact, or a prefix when the pattern ends with ``*``.

    Batch allows ``*`` only as the last character; anywhere else it is refused at
    registration, so a ``*`` elsewhere is compared literally here.  A value that is
    absent (an attempt without an exit code, a container without a reason) is the empty
    string: only ``*`` matches it.  Matching is case-sensitive (the AWS documentation
    calls only the ``action`` values case-insensitive).
    """
    text = "" if value is None else str(value)
    if pattern.endswith("*"):
        return text.startswith(pattern[:-1])
    return text == pattern


def rule_matches(
    rule: Mapping[str, Any], exit_code: int | None, status_reason: str | None, reason: str | None
) -> bool:
    """True when every condition the rule sets matches the attempt.

    ``onExitCode`` never matches an attempt that has no exit code (a container that was
    never started or whose host went away), not even ``*``: Batch evaluates it against
    the container's exit code, which such an attempt does not have.
    """
    fields = {k: rule.get(k) for k in ("onStatusReason", "onReason", "onExitCode")}
    if all(v is None for v in fields.values()):
        return False  # Batch refuses rules without a condition
    if fields["onExitCode"] is not None and (
        exit_code is None or not glob_match(fields["onExitCode"], str(exit_code))
    ):
        return False
    if fields["onStatusReason"] is not None and not glob_match(fields["onStatusReason"], status_reason):
        return False
    return not (fields["onReason"] is not None and not glob_match(fields["onReason"], reason))


@dataclass(frozen=True)
class Decision:
    """What Batch does after an attempt."""

    action: str  # SUCCEEDED | RETRY | FAILED
    why: str
    rule: int | None = None  # index of the evaluateOnExit rule that decided, if any


def decide(
    retry_strategy: Mapping[str, Any] | None,
    attempt: int,
    exit_code: int | None,
    status_reason: str | None,
    reason: str | None = None,
    *,
    timed_out: bool = False,
) -> Decision:
    """Batch's decision after attempt number ``attempt`` (1-based).

    Exit code 0 succeeds.  A timed-out attempt is never retried (AWS: "If a job is
    terminated for exceeding the timeout duration, it isn't retried").  Otherwise the
    ``evaluateOnExit`` rules are tried in order and the first that matches decides; when
    none matches the job is retried; a retry needs an attempt left (``attempts``, default
    1).
    """
    if exit_code == 0 and not timed_out:
        return Decision("SUCCEEDED", "exit code 0")
    strategy = retry_strategy or {}
    attempts = int(strategy.get("attempts") or 1)
    if timed_out:
        return Decision("FAILED", "attempt timed out (Batch never retries a timeout)")
    action, why, index = RETRY, "no evaluateOnExit rule matched (Batch retries)", None
    for i, rule in enumerate(strategy.get("evaluateOnExit") or []):
        if rule_matches(rule, exit_code, status_reason, reason):
            action = str(rule.get("action", "")).upper()
            conds = {k: rule[k] for k in ("onStatusReason", "onReason", "onExitCode") if k in rule}
            why, index = f"rule {i + 1} {json.dumps(conds, sort_keys=True)} -> {action}", i
            break
    if action == EXIT:
        return Decision("FAILED", why, index)
    if attempt >= attempts:
        return Decision("FAILED", f"{why}, but all {attempts} attempts are used", index)
    return Decision(RETRY, why, index)


# --------------------------------------------------------------------------------------
# What to run (pure, from DescribeJobs + DescribeJobDefinitions)
# --------------------------------------------------------------------------------------
@dataclass
class JobSpec:
    """Everything the executor needs to run one (child) job."""

    job_id: str
    job_name: str
    queue: str  # queue name
    image: str
    command: list[str]
    environment: dict[str, str]
    parameters: dict[str, str]
    vcpus: float | None = None
    memory_mib: int | None = None
    gpus: int = 0
    shm_mib: int | None = None
    init_process: bool = False
    timeout_s: float | None = None
    retry_strategy: dict[str, Any] = field(default_factory=dict)
    array_index: int | None = None
    job_definition_arn: str = ""


def substitute(command: Iterable[str], parameters: Mapping[str, str]) -> list[str]:
    """Replace whole-argument ``Ref::name`` placeholders; unknown ones stay as written."""
    out = []
    for arg in command:
        if arg.startswith("Ref::") and arg[5:] in parameters:
            out.append(str(parameters[arg[5:]]))
        else:
            out.append(arg)
    return out


def _env_list(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in items or [] if "name" in e}


def _resources(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {r["type"]: str(r["value"]) for r in items or [] if "type" in r and "value" in r}


def job_spec(job: Mapping[str, Any], job_definition: Mapping[str, Any]) -> JobSpec:
    """Combine a ``DescribeJobs`` entry with its ``DescribeJobDefinitions`` entry.

    The job's values win over the job definition's: its ``container`` (command,
    environment and resources as submitted with overrides), ``parameters``, ``timeout``
    and ``retryStrategy``.
    """
    props = job_definition.get("containerProperties") or {}
    cont = job.get("container") or {}
    params = {**(job_definition.get("parameters") or {}), **(job.get("parameters") or {})}
    command = cont.get("command") or props.get("command") or []
    env = _env_list(props.get("environment"))
    env.update(_env_list(cont.get("environment")))
    env = {k: v for k, v in env.items() if not k.startswith(RESERVED_ENV_PREFIX)}
    res = _resources(props.get("resourceRequirements"))
    res.update(_resources(cont.get("resourceRequirements")))
    vcpus = res.get("VCPU") or cont.get("vcpus") or props.get("vcpus")
    memory = res.get("MEMORY") or cont.get("memory") or props.get("memory")
    linux = cont.get("linuxParameters") or props.get("linuxParameters") or {}
    timeout = (job.get("timeout") or {}).get("attemptDurationSeconds") or (
        job_definition.get("timeout") or {}
    ).get("attemptDurationSeconds")
    retry = job.get("retryStrategy") or job_definition.get("retryStrategy") or {}
    index = (job.get("arrayProperties") or {}).get("index")
    return JobSpec(
        job_id=job["jobId"],
        job_name=job.get("jobName", ""),
        queue=str(job.get("jobQueue", "")).rsplit("/", 1)[-1],
        image=cont.get("image") or props.get("image", ""),
        command=substitute(command, params),
        environment=env,
        parameters=params,
        vcpus=float(vcpus) if vcpus else None,
        memory_mib=int(memory) if memory else None,
        gpus=int(res.get("GPU", 0) or 0),
        shm_mib=int(linux["sharedMemorySize"]) if linux.get("sharedMemorySize") else None,
        init_process=bool(linux.get("initProcessEnabled")),
        timeout_s=float(timeout) if timeout else None,
        retry_strategy=dict(retry),
        array_index=int(index) if index is not None else None,
        job_definition_arn=job.get("jobDefinition", job_definition.get("jobDefinitionArn", "")),
    )


def has_nvidia_gpu() -> bool:
    """True when this machine has NVIDIA device nodes (what CDI would expose)."""
    return Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists()


# Where podman looks for the init binary of ``--init`` (containers.conf ``init_path``).
INIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/lib/podman/catatonit")


def podman_init_available() -> bool:
    """True when ``podman run --init`` can work here (catatonit is installed)."""
    return any(Path(p).exists() for p in INIT_PATHS)


CONTAINER_CA_BUNDLE = "/etc/lmpspot/aws-ca-bundle.pem"


def podman_run_args(
    spec: JobSpec,
    *,
    name: str,
    attempt: int,
    env_file: str | Path,
    gpu_devices: bool,
    init: bool = True,
    ca_bundle: str | None = None,
) -> list[str]:
    """The ``podman run`` arguments (after ``podman``) for one attempt.

    The container's environment (:func:`container_environment`) is in ``env_file``
    (``--env-file``): no variable, credentials least of all, is on the command line.
    ``ca_bundle``: a CA file on this machine the AWS clients in the container must trust
    (the local AWS's own CA when it speaks https); mounted read-only.
    """
    args = ["run", "--name", name, "--network", "host"]
    if spec.init_process and init:
        args.append("--init")
    if spec.vcpus:
        # podman refuses more CPUs than the machine has; Batch would place the job on a
        # bigger instance, here it gets all of this machine (run_spec warns).
        args += ["--cpus", f"{min(spec.vcpus, float(os.cpu_count() or 1)):g}"]
    if spec.memory_mib:
        args += ["--memory", f"{spec.memory_mib}m"]
    if spec.shm_mib:
        args += ["--shm-size", f"{spec.shm_mib}m"]
    if spec.gpus and gpu_devices:
        args += ["--device", "nvidia.com/gpu=all"]
    if is_loopback_registry(spec.image):
        args.append("--tls-verify=false")
    if ca_bundle:
        args += ["-v", f"{ca_bundle}:{CONTAINER_CA_BUNDLE}:ro"]
    args += ["--env-file", str(env_file)]
    return [*args, spec.image, *spec.command]


def container_environment(
    spec: JobSpec, *, attempt: int, env: Mapping[str, str], ca_bundle: str | None = None
) -> dict[str, str]:
    """The environment of one attempt's container: the job's, ``env``, then Batch's own."""
    full_env = {**spec.environment, **env}
    full_env.update(
        {
            "AWS_BATCH_JOB_ID": spec.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(attempt),
            "AWS_BATCH_JQ_NAME": spec.queue,
            "AWS_BATCH_CE_NAME": "local",
        }
    )
    if spec.array_index is not None:
        full_env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(spec.array_index)
    if ca_bundle:
        full_env["AWS_CA_BUNDLE"] = CONTAINER_CA_BUNDLE
    return full_env


# --------------------------------------------------------------------------------------
# Attempts and the job record
# --------------------------------------------------------------------------------------
@dataclass
class Attempt:
    """One attempt, as recorded in attempts.json."""

    attempt: int
    started_at: str
    stopped_at: str
    exit_code: int | None
    status_reason: str
    reason: str | None
    action: str  # SUCCEEDED | RETRY | FAILED
    why: str
    image: str
    instance: str = "local"
    notice_injected_at: str | None = None
    window_closed_at: str | None = None  # the night window closed during this attempt
    duration_s: float = 0.0
    log: str | None = None  # s3:// URL of the attempt's container output
    output: list[str] = field(default_factory=list, repr=False)  # not recorded in attempts.json


@dataclass
class JobResult:
    job_id: str
    sim_id: str
    status: str  # SUCCEEDED | FAILED
    attempts: list[Attempt]
    record_url: str | None  # s3:// URL of attempts.json (the job record), when written
    cancelled: bool = False  # cancelled for lack of Spot capacity (a replayed outage)


def write_job_record(s3: Any, bucket: str, key: str, doc: Mapping[str, Any]) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(doc, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
        ChecksumAlgorithm="SHA256",
    )


def _record(a: Attempt) -> dict[str, Any]:
    d = asdict(a)
    d.pop("output", None)
    return d


@dataclass
class _Watch:
    """One running attempt, and what the executor did to it while it watched."""

    spec: JobSpec
    attempt: int
    name: str  # the container's
    timed_out: bool = False
    reclaimed: bool = False
    window_stopped: bool = False
    notice_at: float | None = None
    window_closed_at: float | None = None
    stopper: threading.Thread | None = None  # a podman stop under way


def _record_doc(spec: JobSpec, sim_id: str) -> dict[str, Any]:
    """A job's attempts.json before its first attempt."""
    return {
        "format": RECORD_FORMAT,
        "executor": "local",
        "job_id": spec.job_id,
        "job_name": spec.job_name,
        "job_definition": spec.job_definition_arn,
        "queue": spec.queue,
        "sim_id": sim_id,
        "array_index": spec.array_index,
        "status": "RUNNING",
        "attempts": [],
    }


@dataclass
class _JobRecord:
    """Where one job's attempts.json and attempt logs go; nothing is written without a bucket
    and an S3 client."""

    s3: Any
    bucket: str | None
    key: str
    doc: dict[str, Any]

    @property
    def url(self) -> str | None:
        return f"s3://{self.bucket}/{self.key}" if self.bucket and self.s3 is not None else None

    def write(self, **overrides: Any) -> None:
        if self.url:
            write_job_record(self.s3, self.bucket, self.key, {**self.doc, **overrides})

    def save_log(self, n: int, a: Attempt) -> None:
        """Store attempt ``n``'s container output beside the job record and note its URL in ``a``."""
        if self.url is None:
            return
        log_key = f"{self.key.rsplit('/', 1)[0]}/logs/attempt-{n}.log"
        self.s3.put_object(
            Bucket=self.bucket,
            Key=log_key,
            Body=("\n".join(a.output) + "\n").encode(),
            ContentType="text/plain",
            ChecksumAlgorithm="SHA256",
        )
        a.log = f"s3://{self.bucket}/{log_key}"


class Podman:
    """The few podman calls the executor makes (one place to set ``CONTAINERS_CONF``)."""

    def __init__(self, podman: str = "podman", containers_conf: str | Path | None = None) -> None:
        self.podman = shutil.which(podman) or podman
        self.env = dict(os.environ)
        if containers_conf is None:
            default = Path(".state") / "containers.conf"
            if "CONTAINERS_CONF" not in self.env and default.exists():
                containers_conf = default.resolve()
        if containers_conf is not None:
            self.env["CONTAINERS_CONF"] = str(containers_conf)

    def call(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.podman, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def popen(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            [self.podman, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )


class LocalExecutor:
    """Runs jobs of the local AWS under podman; see the module docstring."""

    def __init__(
        self,
        batch_client: Any,
        s3_client: Any | None = None,
        *,
        podman: Podman | None = None,
        extra_env: Mapping[str, str] | None = None,
        bucket: str | None = None,
        notice_lead_s: float = SPOT_NOTICE_LEAD_S,
        kill_grace_s: float = KILL_GRACE_S,
        pull: str = "missing",
        ca_bundle: str | None = None,
        log: LogFn = _default_log,
        output: LogFn | None = None,
        window: Any = None,
        window_grace_s: float = WINDOW_GRACE_S,
        events_client: Any = None,
        sfn_client: Any = None,
        trace: Any = None,
        capacity_wait_limit_s: float | None = None,
    ) -> None:
        if batch_client is not None:
            require_loopback_endpoint(getattr(batch_client.meta, "endpoint_url", None))
        self.batch = batch_client
        self.s3 = s3_client
        self.podman = podman or Podman()
        self.extra_env = dict(extra_env or {})
        self.bucket = bucket
        self.notice_lead_s = notice_lead_s
        self.kill_grace_s = kill_grace_s
        self.pull = pull
        # CA file the container's AWS clients trust (default: this process's AWS_CA_BUNDLE).
        self.ca_bundle = ca_bundle
        self.log = log
        self.output = output or (lambda line: print(line, file=sys.stderr, flush=True))
        # The night window (lmpspot.window.Window or its spec string); None: always open.
        if isinstance(window, str):
            from lmpspot.window import parse_window  # noqa: PLC0415

            window = parse_window(window)
        self.window = window
        self.window_grace_s = window_grace_s
        self._stop_waiting = threading.Event()
        # EventBridge and Step Functions of the local AWS: a FAILED job's event reaches the
        # rules the compute layer registered (the fallback, the deadline policy's moves),
        # and the executor runs the jobs their state machine submits (None: not followed).
        self.events = events_client
        self.sfn = sfn_client
        # A Spot capacity trace to replay (lmpspot.spottrace.Trace), from the first job's start.
        self.trace = trace
        self.capacity_wait_limit_s = capacity_wait_limit_s
        self._trace_t0: float | None = None
        self._queues = QueueKinds(batch_client)

    # -- describing ----------------------------------------------------------------------
    def describe(self, job_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        jobs = self.batch.describe_jobs(jobs=[job_id])["jobs"]
        if not jobs:
            raise LookupError(f"no job {job_id} in the local AWS")
        job = jobs[0]
        defs = self.batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"]
        if not defs:
            raise LookupError(f"job {job_id}: job definition {job['jobDefinition']} not found")
        return job, defs[0]

    def specs(self, job_id: str) -> list[JobSpec]:
        """One spec for a plain job; one per child for an array job (in index order)."""
        job, jd = self.describe(job_id)
        size = (job.get("arrayProperties") or {}).get("size")
        if not size or (job.get("arrayProperties") or {}).get("index") is not None:
            return [job_spec(job, jd)]
        out = []
        for i in range(int(size)):
            child, _ = self.describe(f"{job['jobId']}:{i}")
            child.setdefault("arrayProperties", {})["index"] = i
            out.append(job_spec(child, jd))
        return out

    # -- running -------------------------------------------------------------------------
    def _aws_env(self) -> dict[str, str]:
        """The local AWS endpoint and dummy credentials for the container."""
        env: dict[str, str] = {}
        endpoint = getattr(self.batch.meta, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
        require_loopback_endpoint(endpoint)  # the credentials below never leave this machine
        env["AWS_ENDPOINT_URL"] = endpoint
        creds = None
        with contextlib.suppress(Exception):
            creds = self.batch._request_signer._credentials  # dummy local creds
        env["AWS_ACCESS_KEY_ID"] = getattr(creds, "access_key", None) or "testing"
        env["AWS_SECRET_ACCESS_KEY"] = getattr(creds, "secret_key", None) or "testing"
        region = self.batch.meta.region_name
        env["AWS_DEFAULT_REGION"] = region
        env["AWS_REGION"] = region
        return env

    def _ensure_image(self, image: str) -> str | None:
        """Pull the image when needed; a ``CannotPullContainerError`` reason on failure."""
        if self.pull == "never":
            return None
        if self.pull == "missing" and self.podman.call("image", "exists", image).returncode == 0:
            return None
        args = ["pull", "--quiet"]
        if is_loopback_registry(image):
            args.append("--tls-verify=false")
        self.log(f"pulling {image}")
        proc = self.podman.call(*args, image, timeout=1800)
        if proc.returncode != 0:
            return f"{PULL_REASON}: {(proc.stderr or proc.stdout).strip()[-400:]}"
        return None

    def run_attempt(self, spec: JobSpec, attempt: int, **kwargs: Any) -> Attempt:
        """One attempt; its container's environment file (0600) is removed when it ends."""
        holder: list[Path] = []
        try:
            return self._run_attempt(spec, attempt, env_files=holder, **kwargs)
        finally:
            for f in holder:
                f.unlink(missing_ok=True)

    def _run_attempt(
        self,
        spec: JobSpec,
        attempt: int,
        *,
        imds: Any,
        env_files: list[Path],
        inject_notice_at: float | None = None,
        gpu_devices: bool = False,
    ) -> Attempt:
        name = f"lmpspot-{spec.job_id.replace(':', '-')}-a{attempt}"[:120]
        started = time.time()
        self.log(f"job {spec.job_id} attempt {attempt}: starting {spec.image} ({name})")
        pull_error = self._ensure_image(spec.image)
        if pull_error:
            return self._attempt(spec, attempt, started, None, pull_error, PULL_REASON)
        self.podman.call("rm", "--force", "--ignore", name)
        proc = self._start_container(spec, attempt, name, env_files, gpu_devices)
        lines, reader = self._relay_output(proc, f"[{spec.job_id[:8]} a{attempt}]")
        w = _Watch(spec, attempt, name)
        while proc.poll() is None:
            elapsed = time.time() - started
            self._watch_window(w)
            self._watch_notice(w, elapsed, imds, inject_notice_at)
            self._watch_timeout(w, elapsed)
            time.sleep(0.2)
        reader.join(10)
        if w.stopper is not None:
            w.stopper.join(self.kill_grace_s + 60)
        code, reason, inspected = self._exit_status(name, proc.returncode)
        self.podman.call("rm", "--force", "--ignore", name)
        a = self._finish(
            spec, attempt, started, code, reason, inspected, w.reclaimed, w.timed_out, w.notice_at
        )
        a.output = lines
        a.window_closed_at = utc_iso(w.window_closed_at) if w.window_closed_at else None
        return a

    def _start_container(
        self, spec: JobSpec, attempt: int, name: str, env_files: list[Path], gpu_devices: bool
    ) -> subprocess.Popen:
        """``podman run`` the attempt's container, its environment in a new file of ``env_files``."""
        env = {**self._aws_env(), **self.extra_env}
        if self.window is not None:
            env["LMPSPOT_WINDOW"] = self.window.spec()
        init = podman_init_available()
        if spec.init_process and not init and attempt == 1:
            self.log(
                f"WARNING: job {spec.job_id}: initProcessEnabled, but podman's init (catatonit) is not "
                "installed here: running without --init (apt-get install catatonit)"
            )
        ca = self.ca_bundle if self.ca_bundle is not None else os.environ.get("AWS_CA_BUNDLE")
        ca_path = str(Path(ca).resolve()) if ca and Path(ca).is_file() else None
        env_files.append(
            write_env_file(container_environment(spec, attempt=attempt, env=env, ca_bundle=ca_path))
        )
        run_args = podman_run_args(
            spec,
            name=name,
            attempt=attempt,
            env_file=env_files[-1],
            gpu_devices=gpu_devices,
            init=init,
            ca_bundle=ca_path,
        )
        return self.podman.popen(run_args)

    def _relay_output(self, proc: subprocess.Popen, prefix: str) -> tuple[list[str], threading.Thread]:
        """Collect the container's output lines and pass each on to ``self.output``, in a thread."""
        lines: list[str] = []

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                self.output(f"{prefix} {line.rstrip()}")

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        return lines, reader

    def _stop_container(self, name: str) -> threading.Thread:
        """``podman stop`` (SIGTERM, SIGKILL after the grace) in a thread, so the watch goes on."""
        grace = max(0, round(self.kill_grace_s))
        stopper = threading.Thread(
            target=self.podman.call,
            args=("stop", "--time", str(grace), name),
            kwargs={"timeout": grace + 60},
            daemon=True,
        )
        stopper.start()
        return stopper

    def _watch_window(self, w: _Watch) -> None:
        """Note the night window's close; stop the container when the grace after it is over."""
        spec, attempt = w.spec, w.attempt
        if self.window is not None and w.window_closed_at is None and not self.window.is_open(time.time()):
            w.window_closed_at = time.time()
            self.log(
                f"job {spec.job_id} attempt {attempt}: the night window closed; the job "
                f"checkpoints and stops (stopped by the executor after {self.window_grace_s:g}s)"
            )
        if (
            w.window_closed_at is not None
            and not w.window_stopped
            and w.stopper is None
            and time.time() - w.window_closed_at >= self.window_grace_s
        ):
            w.window_stopped = True
            self.log(f"job {spec.job_id} attempt {attempt}: still running after the close: SIGTERM")
            w.stopper = self._stop_container(w.name)

    def _watch_notice(self, w: _Watch, elapsed: float, imds: Any, inject_notice_at: float | None) -> None:
        """Inject the Spot interruption notice when due; kill the container when its time is up."""
        spec, attempt = w.spec, w.attempt
        if inject_notice_at is not None and w.notice_at is None and elapsed >= inject_notice_at:
            imds.schedule_interruption(self.notice_lead_s)
            w.notice_at = time.time()
            self.podman.call("kill", "--signal", "TERM", w.name)  # the host handler's part
            self.log(
                f"job {spec.job_id} attempt {attempt}: spot interruption notice injected "
                f"({elapsed:.1f}s in; instance terminates in {self.notice_lead_s:g}s)"
            )
        if w.notice_at is not None and not w.reclaimed and time.time() - w.notice_at >= self.notice_lead_s:
            w.reclaimed = True
            self.log(f"job {spec.job_id} attempt {attempt}: notice time reached, terminating the instance")
            self.podman.call("kill", "--signal", "KILL", w.name)

    def _watch_timeout(self, w: _Watch, elapsed: float) -> None:
        """Stop the container when the attempt outlives the job's timeout."""
        spec = w.spec
        if (
            spec.timeout_s
            and not w.timed_out
            and not w.reclaimed
            and w.stopper is None
            and elapsed >= spec.timeout_s
        ):
            w.timed_out = True
            self.log(
                f"job {spec.job_id} attempt {w.attempt}: attempt timeout ({spec.timeout_s:g}s): "
                f"SIGTERM, SIGKILL after {self.kill_grace_s:g}s"
            )
            w.stopper = self._stop_container(w.name)

    def _exit_status(self, name: str, code: int | None) -> tuple[int | None, str | None, bool]:
        """(exit code, OOM reason or None, whether podman could inspect the container)."""
        reason = None
        info = self.podman.call("inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", name)
        if info.returncode == 0 and info.stdout.split():
            fields = info.stdout.split()
            with contextlib.suppress(ValueError):
                code = int(fields[0])
            if len(fields) > 1 and fields[1] == "true":
                reason = OOM_REASON
        return code, reason, info.returncode == 0

    def _finish(
        self,
        spec: JobSpec,
        attempt: int,
        started: float,
        code: int | None,
        reason: str | None,
        inspected: bool,
        reclaimed: bool,
        timed_out: bool,
        notice_at: float | None,
    ) -> Attempt:
        """The attempt's record from how its container ended."""
        if code in (125, 126, 127) and not inspected:
            # podman itself failed (bad image/command): no container exit code, as when
            # Batch cannot start a container.
            return self._attempt(
                spec,
                attempt,
                started,
                None,
                "CannotStartContainerError",
                "CannotStartContainerError",
                notice_at=notice_at,
            )
        if reclaimed:
            return self._attempt(spec, attempt, started, None, SPOT_RECLAIM_REASON, None, notice_at=notice_at)
        if timed_out:
            return self._attempt(
                spec, attempt, started, code, TIMEOUT_REASON, reason, timed_out=True, notice_at=notice_at
            )
        return self._attempt(spec, attempt, started, code, EXITED_REASON, reason, notice_at=notice_at)

    def _attempt(
        self,
        spec: JobSpec,
        attempt: int,
        started: float,
        exit_code: int | None,
        status_reason: str,
        reason: str | None,
        *,
        timed_out: bool = False,
        notice_at: float | None = None,
    ) -> Attempt:
        stopped = time.time()
        d = decide(spec.retry_strategy, attempt, exit_code, status_reason, reason, timed_out=timed_out)
        a = Attempt(
            attempt=attempt,
            started_at=utc_iso(started),
            stopped_at=utc_iso(stopped),
            exit_code=exit_code,
            status_reason=status_reason,
            reason=reason,
            action=d.action,
            why=d.why,
            image=spec.image,
            notice_injected_at=utc_iso(notice_at) if notice_at else None,
            duration_s=round(stopped - started, 3),
        )
        self.log(
            f"job {spec.job_id} attempt {attempt}: stopped after {a.duration_s:.1f}s, exit code "
            f"{exit_code if exit_code is not None else '-'}, status reason {status_reason!r} "
            f"-> {d.action} ({d.why})"
        )
        return a

    def run_spec(
        self,
        spec: JobSpec,
        *,
        inject_notice_at: float | None = None,
        inject_on_attempt: int = 1,
        imds: Any = None,
    ) -> JobResult:
        from lmpspot_local.imds_stub import ImdsStub  # noqa: PLC0415

        sim_id = spec.parameters.get("sim_id") or spec.job_id
        bucket = spec.environment.get("LMPSPOT_BUCKET") or self.bucket
        results_prefix = spec.environment.get("LMPSPOT_RESULTS_PREFIX") or DEFAULT_RESULTS_PREFIX
        key = job_record_key(results_prefix, sim_id, spec.array_index)
        gpu_devices = self._gpu_devices(spec)
        own_stub = imds is None
        stub = imds or ImdsStub(instance_id=LOCAL_INSTANCE_ID, region=self.batch.meta.region_name).start()
        record = _JobRecord(self.s3, bucket, key, _record_doc(spec, sim_id))
        if record.url is None:
            self.log(
                f"job {spec.job_id}: no bucket (LMPSPOT_BUCKET) or S3 client: attempts are not recorded in S3"
            )
        # The job is this executor's from now on (RUNNABLE until an attempt ends): submit
        # and prune see the simulation active while it waits (e.g. for the night window).
        record.write(status="RUNNABLE")
        try:
            attempts, cancelled = self._attempts(
                spec,
                record,
                stub,
                gpu_devices=gpu_devices,
                inject_notice_at=inject_notice_at,
                inject_on_attempt=inject_on_attempt,
            )
        finally:
            if own_stub:
                stub.stop()
        if cancelled:
            return JobResult(spec.job_id, sim_id, "FAILED", attempts, record.url, cancelled=True)
        status = attempts[-1].action if attempts else "FAILED"
        self.log(
            f"job {spec.job_id} (sim {sim_id}): {status} after {len(attempts)} attempt(s); "
            f"record: {record.url or '-'}"
        )
        return JobResult(spec.job_id, sim_id, status, attempts, record.url)

    def _gpu_devices(self, spec: JobSpec) -> bool:
        """Whether the job's container gets the NVIDIA devices; warns where the job asks for
        more than this machine has."""
        gpu_devices = False
        if spec.gpus:
            gpu_devices = has_nvidia_gpu()
            if not gpu_devices:
                self.log(
                    f"WARNING: job {spec.job_id} asks for {spec.gpus} GPU(s) but this machine has no "
                    "NVIDIA device: it runs on CPU"
                )
        if spec.vcpus and spec.vcpus > (os.cpu_count() or 1):
            self.log(
                f"WARNING: job {spec.job_id} asks for {spec.vcpus:g} vCPUs; this machine has "
                f"{os.cpu_count()}: it gets {os.cpu_count()}"
            )
        return gpu_devices

    def _attempts(
        self,
        spec: JobSpec,
        record: _JobRecord,
        stub: Any,
        *,
        gpu_devices: bool,
        inject_notice_at: float | None,
        inject_on_attempt: int,
    ) -> tuple[list[Attempt], bool]:
        """Run attempts until one ends the job, recording each: (attempts, cancelled for lack of
        Spot capacity)."""
        attempts: list[Attempt] = []
        for n in range(1, int(spec.retry_strategy.get("attempts") or 1) + 1):
            if not self.wait_for_window(spec, n):
                break
            if not self.wait_for_capacity(spec, n):
                record.doc["status"] = "FAILED"
                record.write()
                return attempts, True
            if n > 1:
                stub.reset()  # a retried attempt runs on a new instance
            a = self.run_attempt(
                spec,
                n,
                imds=stub,
                inject_notice_at=self._trace_notice(
                    spec, inject_notice_at if n == inject_on_attempt else None
                ),
                gpu_devices=gpu_devices,
            )
            attempts.append(a)
            record.save_log(n, a)
            record.doc["attempts"] = [_record(x) for x in attempts]
            record.doc["status"] = a.action if a.action != RETRY else "RUNNABLE"
            record.write()
            if a.action != RETRY:
                break
        return attempts, False

    def wait_for_window(self, spec: JobSpec, attempt: int) -> bool:
        """Hold the attempt while the night window is closed (a disabled compute environment:
        the job stays RUNNABLE).  False when told to stop waiting (:meth:`stop_waiting`)."""
        if self.window is None or self.window.is_open(time.time()):
            return not self._stop_waiting.is_set()
        from lmpspot.window import describe  # noqa: PLC0415

        self.log(
            f"job {spec.job_id} attempt {attempt}: RUNNABLE, night window {describe(self.window)}; waiting"
        )
        while not self.window.is_open(time.time()):
            wait = max(0.05, min(self.window.next_change(time.time()) - time.time(), 60.0))
            if self._stop_waiting.wait(wait):
                return False
        self.log(f"job {spec.job_id} attempt {attempt}: the night window opened; starting")
        return not self._stop_waiting.is_set()

    # -- a replayed Spot capacity trace (lmpspot_local.capacity) --------------------------
    def _trace_now(self) -> float:
        if self._trace_t0 is None:
            self._trace_t0 = time.time()
        return time.time() - self._trace_t0

    def _is_spot(self, spec: JobSpec) -> bool:
        """A Spot queue: its compute environments are SPOT, or it is the queue the job
        definition names LMPSPOT_SPOT_QUEUE (what the runner goes by)."""
        named = spec.environment.get("LMPSPOT_SPOT_QUEUE")
        if named and named.rsplit("/", 1)[-1] == spec.queue.rsplit("/", 1)[-1]:
            return True
        return self._queues.is_spot(spec.queue)

    def _trace_notice(self, spec: JobSpec, given: float | None) -> float | None:
        """Seconds into the attempt starting now at which the trace interrupts it."""
        if self.trace is None or not self._is_spot(spec):
            return given
        now = self._trace_now()
        at = self.trace.next_interruption(now, float("inf"))
        own = None if at is None else max(0.0, at - now)
        return own if given is None else (given if own is None else min(given, own))

    def wait_for_capacity(self, spec: JobSpec, attempt: int) -> bool:
        """Hold a Spot attempt while the trace has no Spot capacity; False when the wait
        passes the queue's time limit (the job is then cancelled for capacity)."""
        if self.trace is None or not self._is_spot(spec):
            return True
        end = self.trace.spot_available_at(self._trace_now())
        if end <= self._trace_now():
            return True
        limit = self.capacity_wait_limit_s or self._queues.time_limit(spec.queue)
        waited = 0.0
        self.log(
            f"job {spec.job_id} attempt {attempt}: RUNNABLE, no Spot capacity (trace) until t={end:.0f}s"
        )
        while (end := self.trace.spot_available_at(now := self._trace_now())) > now:
            step = min(end - now, 1.0)
            if limit is not None and waited + step >= limit:
                self._stop_waiting.wait(max(0.0, limit - waited))
                self.log(
                    f"job {spec.job_id}: no Spot capacity for {limit:.0f}s: cancelled ({CANCELLED_REASON})"
                )
                return False
            if self._stop_waiting.wait(max(0.01, step)):
                return False
            waited += max(0.01, step)
        return True

    def _handoff(self, spec: JobSpec, r: JobResult) -> list[str]:
        """The jobs the local AWS's rules submit for a job that ended FAILED (a capacity
        cancel, a deadline-policy move), as EventBridge and Step Functions would."""
        if self.events is None or self.sfn is None or r.status != "FAILED":
            return []
        from lmpspot_local.fallback import capacity_fallback, job_failed  # noqa: PLC0415

        if r.cancelled:
            jobs = capacity_fallback(self.batch, self.events, self.sfn, spec.job_id)
        elif r.attempts and r.attempts[-1].exit_code in MOVE_EXIT_CODES:
            a = r.attempts[-1]
            jobs = job_failed(
                self.batch, self.events, self.sfn, spec.job_id, int(a.exit_code), a.status_reason
            )
        else:
            return []
        ids = [j["jobId"] for j in jobs]
        self.log(f"job {spec.job_id}: FAILED; the local AWS's rules submitted {', '.join(ids) or 'nothing'}")
        return ids

    def stop_waiting(self) -> None:
        """Make a run waiting for the window give up (``serve`` shutting down)."""
        self._stop_waiting.set()

    def run_job(
        self,
        job_id: str,
        *,
        inject_notice_at: float | None = None,
        inject_on_attempt: int = 1,
        imds: Any = None,
        _depth: int = 0,
    ) -> list[JobResult]:
        """Run a job (every child of an array job, one after the other), then the jobs the
        local AWS's rules submit when one ends FAILED (:meth:`_handoff`), up to
        :data:`MAX_HANDOFFS` deep."""
        self._trace_now()  # the trace's clock starts with the first job
        results: list[JobResult] = []
        for spec in self.specs(job_id):
            r = self.run_spec(
                spec, inject_notice_at=inject_notice_at, inject_on_attempt=inject_on_attempt, imds=imds
            )
            results.append(r)
            if _depth < MAX_HANDOFFS:
                for new in self._handoff(spec, r):
                    results += self.run_job(new, imds=imds, _depth=_depth + 1)
        return results

    # -- serving -------------------------------------------------------------------------
    def pending_jobs(self, queue: str) -> list[str]:
        """Jobs of ``queue`` with no job record yet (moto's own status is ignored)."""
        out: list[str] = []
        summaries: list[dict[str, Any]] = []
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"):
            token = None
            while True:
                kw: dict[str, Any] = {"jobQueue": queue, "jobStatus": status}
                if token:
                    kw["nextToken"] = token
                page = self.batch.list_jobs(**kw)
                summaries += page.get("jobSummaryList", [])
                token = page.get("nextToken")
                if not token:
                    break
        seen = set()
        for s in sorted(summaries, key=lambda s: s.get("createdAt", 0)):
            jid = s["jobId"]
            if ":" in jid or jid in seen:  # array children run with their parent
                continue
            seen.add(jid)
            if not self._recorded(jid):
                out.append(jid)
        return out

    def _recorded(self, job_id: str) -> bool:
        if self.s3 is None:
            return False
        for spec in self.specs(job_id):
            bucket = spec.environment.get("LMPSPOT_BUCKET") or self.bucket
            if not bucket:
                return False
            prefix = spec.environment.get("LMPSPOT_RESULTS_PREFIX") or DEFAULT_RESULTS_PREFIX
            sim_id = spec.parameters.get("sim_id") or spec.job_id
            doc = read_job_record(self.s3, bucket, job_record_key(prefix, sim_id, spec.array_index))
            if doc is None or doc.get("job_id") != spec.job_id:
                return False
        return True

    def serve(
        self, queue: str, *, poll_s: float = 5.0, once: bool = False, stop: threading.Event | None = None
    ) -> int:
        """Run every not-yet-executed job of ``queue``, oldest first; poll until stopped."""
        stop = stop or threading.Event()
        done = 0
        while not stop.is_set():
            for jid in self.pending_jobs(queue):
                if stop.is_set():
                    break
                self.run_job(jid)
                done += 1
            if once:
                break
            stop.wait(poll_s)
        return done


def run_job(
    batch_client: Any,
    job_id: str,
    *,
    s3_client: Any | None = None,
    podman: Podman | None = None,
    extra_env: Mapping[str, str] | None = None,
    imds: Any = None,
    inject_notice_at: float | None = None,
    inject_on_attempt: int = 1,
    notice_lead_s: float = SPOT_NOTICE_LEAD_S,
    kill_grace_s: float = KILL_GRACE_S,
    bucket: str | None = None,
    log: LogFn = _default_log,
    window: Any = None,
    window_grace_s: float = WINDOW_GRACE_S,
    events_client: Any = None,
    sfn_client: Any = None,
    trace: Any = None,
    capacity_wait_limit_s: float | None = None,
) -> list[JobResult]:
    """Run one job of the local AWS (see :class:`LocalExecutor`); one result per (child) job,
    the jobs the local AWS's rules submitted after it included (with ``events_client`` and
    ``sfn_client``)."""
    ex = LocalExecutor(
        batch_client,
        s3_client,
        podman=podman,
        extra_env=extra_env,
        bucket=bucket,
        notice_lead_s=notice_lead_s,
        kill_grace_s=kill_grace_s,
        log=log,
        window=window,
        window_grace_s=window_grace_s,
        events_client=events_client,
        sfn_client=sfn_client,
        trace=trace,
        capacity_wait_limit_s=capacity_wait_limit_s,
    )
    return ex.run_job(
        job_id, inject_notice_at=inject_notice_at, inject_on_attempt=inject_on_attempt, imds=imds
    )


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def _clients() -> tuple[Any, Any]:
    import boto3  # noqa: PLC0415

    return boto3.client("batch"), boto3.client("s3")


def _rule_clients() -> tuple[Any, Any]:
    """EventBridge and Step Functions of the local AWS (the rules a FAILED job reaches)."""
    import boto3  # noqa: PLC0415

    return boto3.client("events"), boto3.client("stepfunctions")


def _executor(args: argparse.Namespace) -> LocalExecutor:
    batch, s3 = _clients()
    events, sfn = _rule_clients()
    log: LogFn = _default_log
    if getattr(args, "log_file", None):
        stream = Path(args.log_file).open("a", buffering=1)  # noqa: SIM115 (open for the process's life)

        def log(msg: str) -> None:
            stream.write(f"{utc_iso()} {msg}\n")
            _default_log(msg)

    return LocalExecutor(
        batch,
        s3,
        podman=Podman(containers_conf=args.containers_conf),
        bucket=args.bucket,
        notice_lead_s=args.notice_lead,
        kill_grace_s=args.kill_grace,
        pull=args.pull,
        log=log,
        output=log if getattr(args, "log_file", None) else None,
        window=args.window,
        window_grace_s=args.window_grace,
        events_client=events,
        sfn_client=sfn,
        trace=spottrace.load(args.trace) if args.trace else None,
        capacity_wait_limit_s=args.capacity_wait_limit,
    )


def cmd_run(args: argparse.Namespace) -> int:
    ex = _executor(args)
    results = ex.run_job(
        args.job_id, inject_notice_at=args.inject_notice_at, inject_on_attempt=args.inject_on_attempt
    )
    summary = [
        {
            "job_id": r.job_id,
            "sim_id": r.sim_id,
            "status": r.status,
            "ledger": r.record_url,  # printed JSON: the key keeps its name for its readers
            "attempts": [_record(a) for a in r.attempts],
        }
        for r in results
    ]
    print(json.dumps(summary if len(summary) > 1 else summary[0], indent=2))
    return 0 if all(r.status == "SUCCEEDED" for r in results) else 1


def cmd_show(args: argparse.Namespace) -> int:
    _, s3 = _clients()
    bucket = args.bucket or os.environ.get("LMPSPOT_BUCKET")
    if not bucket:
        print("show needs --bucket (or LMPSPOT_BUCKET)", file=sys.stderr)
        return 2
    doc = read_job_record(s3, bucket, job_record_key(args.results_prefix, args.sim_id, args.array_index))
    if doc is None:
        print(
            f"no attempts recorded for {args.sim_id} in s3://{bucket}/{args.results_prefix}", file=sys.stderr
        )
        return 1
    print(json.dumps(doc, indent=2))
    return 0


def cmd_capacity_cancel(args: argparse.Namespace) -> int:
    import boto3  # noqa: PLC0415

    from lmpspot_local.fallback import capacity_fallback  # noqa: PLC0415

    jobs = capacity_fallback(
        boto3.client("batch"), boto3.client("events"), boto3.client("stepfunctions"), args.job_id
    )
    print(json.dumps(jobs, indent=2))
    return 0 if jobs else 1


def cmd_serve(args: argparse.Namespace) -> int:
    ex = _executor(args)
    n = ex.serve(args.queue, poll_s=args.poll, once=args.once)
    ex.log(f"executed {n} job(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m lmpspot_local.executor", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bucket", help="results bucket when the job has no LMPSPOT_BUCKET")
        p.add_argument(
            "--containers-conf", help="podman containers.conf (default .state/containers.conf if present)"
        )
        p.add_argument(
            "--notice-lead", type=float, default=SPOT_NOTICE_LEAD_S, help="s from notice to reclaim"
        )
        p.add_argument(
            "--kill-grace", type=float, default=KILL_GRACE_S, help="s from SIGTERM to SIGKILL on timeout"
        )
        p.add_argument("--pull", choices=("missing", "always", "never"), default="missing")
        p.add_argument("--log-file", help="also append progress and container output to this file")
        p.add_argument(
            "--window",
            default=os.environ.get("LMPSPOT_WINDOW") or None,
            help="night window (lmpspot.window spec, default $LMPSPOT_WINDOW): attempts start only "
            "while it is open and stop at its close",
        )
        p.add_argument(
            "--window-grace",
            type=float,
            default=WINDOW_GRACE_S,
            help="s after the close before a still-running container is stopped",
        )
        p.add_argument(
            "--trace",
            help="replay this Spot capacity trace (JSON: spot_interruptions_s, spot_outages_s; "
            "seconds after the first job starts; docs/DEADLINE.md) on Spot queues",
        )
        p.add_argument(
            "--capacity-wait-limit",
            type=float,
            default=None,
            help="s a Spot job waits for capacity in a replayed outage before it is cancelled "
            "(default: the queue's jobStateTimeLimitActions)",
        )

    p = sub.add_parser("run", help="run one job (all attempts) of the local AWS")
    p.add_argument("job_id")
    p.add_argument(
        "--inject-notice-at", type=float, default=None, help="s into the attempt to publish a spot notice"
    )
    p.add_argument(
        "--inject-on-attempt", type=int, default=1, help="attempt that gets the notice (default 1)"
    )
    common(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("show", help="print a simulation's attempts.json")
    p.add_argument("sim_id")
    p.add_argument("--bucket")
    p.add_argument("--results-prefix", default=DEFAULT_RESULTS_PREFIX)
    p.add_argument("--array-index", type=int, default=None)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "capacity-cancel",
        help="rehearse a Spot job starved of capacity: cancel it as Batch would and carry out the "
        "fallback the local AWS has registered (rule -> state machine -> On-Demand job)",
    )
    p.add_argument("job_id")
    p.set_defaults(func=cmd_capacity_cancel)

    p = sub.add_parser("serve", help="run every job of a queue not yet executed, then keep polling")
    p.add_argument("--queue", required=True)
    p.add_argument("--poll", type=float, default=5.0)
    p.add_argument("--once", action="store_true", help="run what is pending, then exit")
    common(p)
    p.set_defaults(func=cmd_serve)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NonLoopbackEndpoint as e:
        _default_log(f"refused: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
