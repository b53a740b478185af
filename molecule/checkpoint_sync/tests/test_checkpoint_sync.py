"""The checkpoint-sync timer's real state, and one pass uploading a registered simulation's
checkpoints to the scenario's S3 API (a moto server on the host's loopback)."""

import json
import time
from pathlib import Path

import boto3

TIMER = "lmpspot-checkpoint-sync.timer"
SERVICE = "lmpspot-checkpoint-sync.service"
VENV_PY = "/opt/lmpspot/venv/bin/python"
ENDPOINT = "http://127.0.0.1:18180"
BUCKET = "lmpspot-molecule-results"
JOB = "mol-sync"
WORKDIR = f"/srv/lmpspot/{JOB}"
DUMMY = Path(__file__).resolve().parents[2] / "resources" / "dummy_sim.py"
# Three committed checkpoints (seq 0, 1, 2) written the way the runner writes them.
MAKE_CKPTS = f"""from lmpspot.checkpoint import LocalStore
store = LocalStore("{WORKDIR}/checkpoints")
for seq in range(3):
    stage = store.staging(seq)
    (stage / "restart.bin").write_bytes(bytes([seq]) * 4096)
    store.commit(stage, job_id="{JOB}", step=100 * seq, stage_name="run")
"""


def s3():
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto's documented dummy)
    )


def wait_for(host, cmd, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.run(cmd).rc == 0:
            return True
        time.sleep(0.5)
    return False


def test_timer_enabled_and_scheduled(host):
    timer = host.service(TIMER)
    assert timer.is_enabled
    assert timer.is_running
    listed = host.check_output(f"systemctl list-timers --all --no-legend {TIMER}")
    assert TIMER in listed and SERVICE in listed
    assert not listed.split()[0].startswith("n/a")  # a next elapse time is set
    props = host.check_output(f"systemctl show {TIMER} -p TimersMonotonic")
    assert "OnUnitActiveUSec" in props and "1min" in props


def test_service_hardened(host):
    props = host.check_output(
        f"systemctl show {SERVICE} -p User -p NoNewPrivileges -p ProtectSystem -p PrivateTmp "
        "-p ReadWritePaths -p Type"
    )
    for want in (
        "User=lmpspot",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ReadWritePaths=/srv/lmpspot",
        "Type=oneshot",
    ):
        assert want in props
    assert host.run(f"systemd-analyze verify /etc/systemd/system/{SERVICE}").rc == 0


def test_env_file(host):
    env = host.file("/etc/lmpspot/checkpoint-sync.env")
    assert env.user == "root" and env.group == "lmpspot" and env.mode == 0o640
    assert f"LMPSPOT_SYNC_BUCKET={BUCKET}" in env.content_string
    assert "LMPSPOT_SYNC_RETENTION=2" in env.content_string
    assert host.run(f"{VENV_PY} -m lmpspot.hostagent check-sync-env {env.path}").rc == 0
    bad = host.run(
        f"printf 'LMPSPOT_SYNC_BUCKET=Bad_Bucket\\nLMPSPOT_SYNC_RETENTION=0\\n' > /tmp/bad.env && "
        f"{VENV_PY} -m lmpspot.hostagent check-sync-env /tmp/bad.env"
    )
    assert bad.rc == 1 and "LMPSPOT_SYNC_RETENTION" in bad.stderr


def test_sync_pass_uploads_registered_checkpoints(host):
    client = s3()
    old = client.list_objects_v2(Bucket=BUCKET, Prefix=f"checkpoints/{JOB}/").get("Contents", [])
    for obj in old:
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    host.check_output(
        f"rm -rf {WORKDIR} && install -d -o lmpspot -g lmpspot {WORKDIR} "
        "&& install -d -m 3775 -g lmpspot /run/lmpspot"
    )
    host.check_output(f"install -m 0644 /dev/stdin /srv/dummy_sim.py <<'EOF'\n{DUMMY.read_text()}\nEOF")
    host.check_output(f"install -m 0644 /dev/stdin /srv/make_ckpts.py <<'EOF'\n{MAKE_CKPTS}\nEOF")
    host.check_output(f"runuser -u lmpspot -- {VENV_PY} /srv/make_ckpts.py")
    sim = host.run(
        f"systemd-run --unit lmpspot-dummy-sync --collect -p User=lmpspot {VENV_PY} /srv/dummy_sim.py "
        f"{JOB} {WORKDIR}"
    )
    assert sim.rc == 0, sim.stderr
    try:
        assert wait_for(host, f"test -f /run/lmpspot/{JOB}.json")
        run = host.run(f"systemctl start {SERVICE}")  # what the timer starts; waits for the oneshot
        journal = host.check_output(f"journalctl -u {SERVICE} --no-pager -o cat")
        assert run.rc == 0, journal
        assert f"checkpoint sync {JOB}: ok" in journal

        keys = {
            o["Key"]
            for o in client.list_objects_v2(Bucket=BUCKET, Prefix=f"checkpoints/{JOB}/").get("Contents", [])
        }
        seqs = sorted({k.split("/")[2] for k in keys if k.split("/")[2].startswith("ckpt-")})
        # retention 2: the two newest verified checkpoints are kept in S3 ...
        assert seqs == ["ckpt-0000000001", "ckpt-0000000002"], keys
        pointer = json.loads(
            client.get_object(Bucket=BUCKET, Key=f"checkpoints/{JOB}/latest.json")["Body"].read()
        )
        assert pointer["seq"] == 2
        # ... and locally, once the newer ones are verified in S3
        local = host.check_output(f"ls {WORKDIR}/checkpoints").split()
        assert sorted(local) == ["ckpt-0000000001", "ckpt-0000000002"]
    finally:
        host.run("systemctl stop lmpspot-dummy-sync")
