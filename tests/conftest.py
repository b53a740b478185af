"""Shared fixtures: a real local AWS (moto server) and a way to run the real playbooks.

The moto server is started with the same code the ``local_aws`` play uses
(``lmpspot.local`` module_utils), on a free loopback port, once per test session.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.lmpspot.local.plugins.module_utils import local_aws  # noqa: E402

VENV_BIN = Path(sys.executable).parent
RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.M,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# One local CA for the whole test session: every local AWS a test starts (the session
# server, the local_aws play's own, a clone's) serves a certificate from it, and every
# client -- boto3 here, ansible-playbook and lmpspot subprocesses, containers -- trusts it
# through AWS_CA_BUNDLE, as an operator's machine does with .state/tls/ca.pem.
TLS_DIR = Path(
    os.environ.get("LMPSPOT_TEST_TLS_DIR") or Path(tempfile.gettempdir()) / f"lmpspot-tests-tls-{os.getuid()}"
)
local_aws.ensure_tls(str(TLS_DIR))
CA_BUNDLE = local_aws.tls_paths(str(TLS_DIR))["ca_cert"]
os.environ["AWS_CA_BUNDLE"] = CA_BUNDLE
# lmpspot status keeps unchanged S3 objects between runs (lmpspot.s3cache): the tests'
# cache lives in the session's temporary directory, not in the home directory.
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="lmpspot-tests-cache-"))


@dataclass
class LocalAws:
    host: str
    port: int
    state_dir: Path

    @property
    def endpoint_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_bundle(self) -> str:
        return CA_BUNDLE

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-2",
            "AWS_REGION": "us-east-2",
            "AWS_CA_BUNDLE": CA_BUNDLE,
        }

    def client(self, service: str, region: str = "us-east-2"):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            verify=CA_BUNDLE,
        )

    def reset(self) -> None:
        """Forget every resource (moto's reset API), then re-apply the lmpspot config."""
        req = urllib.request.Request(self.endpoint_url + "/moto-api/reset", method="POST")
        ctx = ssl.create_default_context(cafile=CA_BUNDLE)
        with urllib.request.urlopen(req, timeout=30, context=ctx):
            pass
        local_aws.configure(self.host, self.port, tls_dir=str(TLS_DIR))


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> LocalAws:
    """A moto server for the whole session, on a free loopback port."""
    state = tmp_path_factory.mktemp("local-aws")
    port = free_port()
    local_aws.start(
        "127.0.0.1",
        port,
        str(state / "moto.pid"),
        str(state / "moto.log"),
        python=sys.executable,
        tls_dir=str(TLS_DIR),
    )
    yield LocalAws("127.0.0.1", port, state)
    local_aws.stop(str(state / "moto.pid"))


@pytest.fixture
def aws(moto_server: LocalAws) -> LocalAws:
    """The session's local AWS, emptied before the test."""
    moto_server.reset()
    return moto_server


def named_resources(aws: LocalAws, needle: str) -> set[tuple[str, str]]:
    """Every IAM role, instance profile, log group, alarm, EventBridge rule, schedule, SNS
    topic and state machine in the local AWS whose name contains ``needle``, as ``(kind, name)`` (the
    kinds of the layers' ``<role>__resources``)."""
    iam, logs, cw = aws.client("iam"), aws.client("logs"), aws.client("cloudwatch")
    events, sched, sns = aws.client("events"), aws.client("scheduler"), aws.client("sns")
    have = {("iam_role", r["RoleName"]) for r in iam.list_roles()["Roles"]}
    have |= {
        ("instance_profile", p["InstanceProfileName"])
        for p in iam.list_instance_profiles()["InstanceProfiles"]
    }
    have |= {("log_group", g["logGroupName"]) for g in logs.describe_log_groups()["logGroups"]}
    alarms = cw.describe_alarms()
    have |= {("alarm", a["AlarmName"]) for a in alarms["MetricAlarms"] + alarms["CompositeAlarms"]}
    have |= {("event_rule", r["Name"]) for r in events.list_rules()["Rules"]}
    have |= {("schedule", s["Name"]) for s in sched.list_schedules()["Schedules"]}
    have |= {("sns_topic", t["TopicArn"].rsplit(":", 1)[-1]) for t in sns.list_topics()["Topics"]}
    machines = aws.client("stepfunctions").list_state_machines()["stateMachines"]
    have |= {("state_machine", m["name"]) for m in machines}
    return {(k, n) for k, n in have if needle in n}


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return {
            m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            for m in RECAP.finditer(self.stdout)
        }

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed(self) -> int:
        return sum(h["failed"] + h["unreachable"] for h in self.recap.values())

    def __str__(self) -> str:  # shown by pytest when an assertion on it fails
        return f"rc={self.rc}\n--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-3000:]}"


def run_playbook(
    playbook: str,
    aws: LocalAws | None = None,
    *args: str,
    extra_vars: dict | None = None,
    inventory: str = "inventories/local",
    timeout: int = 900,
    env: dict | None = None,
) -> PlaybookResult:
    """Run a real playbook of this repository, pointed at the given local AWS."""
    ev = dict(extra_vars or {})
    ev.setdefault("lmpspot_local_aws_tls_dir", str(TLS_DIR))
    if aws is not None:
        ev.setdefault("lmpspot_local_aws_port", aws.port)
        ev.setdefault("lmpspot_state_dir", str(aws.state_dir))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", inventory, playbook, *args]
    if ev:
        cmd += ["-e", json.dumps(ev)]
    full_env = dict(os.environ)
    full_env.update(
        {
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{VENV_BIN}{os.pathsep}{full_env.get('PATH', '')}",
        }
    )
    # Never let a developer's real AWS settings leak into a test run.
    for var in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        full_env.pop(var, None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return PlaybookResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def playbook():
    """``playbook(path, aws, *ansible_args, extra_vars=...)`` runs a real play."""
    return run_playbook
