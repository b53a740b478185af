"""One simulation through the real product path, with no test-only job definition.

``site.yml`` (every layer) stands the system up against the local AWS: it builds and
pushes the cpu image into its local registry and registers the compute layer's job
definition ``<project>-<env>-lammps-gpu`` pointing at that image's content tag.
``playbooks/submit.yml`` then uploads a small LJ melt, submits it to the compute layer's
Spot queue with that job definition, and (local mode) runs it with the local executor,
which publishes a spot interruption notice during attempt 1.

What is asserted comes from the local AWS through boto3: the job definition as
registered, the attempts ledger (``results/<sim_id>/attempts.json``) and the checkpoint
manifests under ``checkpoints/<sim_id>/``.  Finally ``site.yml`` runs again and must
change nothing.

The checkpoint interval is the operator's inventory setting ``lmpspot_checkpoint_interval``
(60 s, its minimum), given to both ``site.yml`` runs; the job is sized so that the notice,
not the interval, ends attempt 1 whatever the machine's load (see ``STEPS``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest
from conftest import LocalAws, free_port, run_playbook
from lmp_helpers import lj_fcc

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PODMAN = shutil.which("podman")
PROJECT_ENV = "lmpspot-local"  # inventories/local: lmpspot_project-lmpspot_environment
BUCKET = f"{PROJECT_ENV}-results"
JOB_DEFINITION = f"{PROJECT_ENV}-lammps-gpu"
QUEUE = f"{PROJECT_ENV}-spot"
INTERVAL_S = 60
# This LJ melt runs at 170 (loaded core) to about 700 (idle core) steps/s here. The notice
# is published 8 s into attempt 1 and seen within the runner's 5 s IMDS poll, so attempt 1
# stops (at the next multiple of the sort frequency, 1000) by step ~10000 even when fast,
# leaving work for attempt 2; when slow, attempt 2 stays under 2 x the 60 s interval, so
# the retention of 3 checkpoints still holds the one attempt 2 resumed from.
STEPS = 16000
NOTICE_AT_S = 8
NOTICE_LEAD_S = 90  # the runner must checkpoint and exit 75 before this; never reached

LJ = f"""\
# LJ melt, 4000 atoms, NVE: deterministic, so the resume is bitwise exact.
units           lj
atom_style      atomic
{lj_fcc(10, "3.0")}\
neighbor        0.3 bin
neigh_modify    every 20 delay 0 check no
fix             1 all nve
thermo          500
run             {STEPS}
"""


def _keys(s3, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _json(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _text(s3, url: str) -> str:
    return s3.get_object(Bucket=BUCKET, Key=url.removeprefix(f"s3://{BUCKET}/"))["Body"].read().decode()


@pytest.fixture
def site_vars(aws: LocalAws, tmp_path):
    """Extra vars of both site.yml runs and of submit.yml; stops the local registry after."""
    if PODMAN is None:
        pytest.skip("podman is not installed (scripts/bootstrap.sh)")
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)  # the local registry and the containers read from here
    ev = {
        "registry_local_port": free_port(),
        "lmpspot_state_dir": str(state),
        "lmpspot_checkpoint_interval": INTERVAL_S,
    }
    yield ev
    down = run_playbook("playbooks/registry.yml", aws, extra_vars={**ev, "registry_state": "absent"})
    # The tags of this test's registry (the layers stay in podman's cache for the next run).
    conf = state / "containers.conf"
    penv = {**os.environ, "CONTAINERS_CONF": str(conf)} if conf.exists() else dict(os.environ)
    listed = subprocess.run(  # noqa: S603
        [PODMAN, "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
        env=penv,
    )
    ours = re.compile(rf"127\.0\.0\.1:{ev['registry_local_port']}/\S+")
    for ref in ours.findall(listed.stdout):
        subprocess.run(
            [PODMAN, "rmi", "--force", "--ignore", ref], capture_output=True, check=False, env=penv
        )  # noqa: S603
    assert down.rc == 0, down


def test_job_through_the_compute_layer(aws: LocalAws, site_vars, tmp_path):  # noqa: PLR0915 (one story)
    # 1. The whole system, image and compute layer included.
    t0 = time.monotonic()
    site = run_playbook("site.yml", aws, extra_vars=site_vars, timeout=1500)
    site_s = time.monotonic() - t0
    assert site.rc == 0, site
    assert site.failed == 0, site

    batch, s3 = aws.client("batch"), aws.client("s3")
    jds = batch.describe_job_definitions(jobDefinitionName=JOB_DEFINITION, status="ACTIVE")["jobDefinitions"]
    assert len(jds) == 1, jds  # one revision
    jd = jds[0]
    props = jd["containerProperties"]
    image = props["image"]
    address = f"127.0.0.1:{site_vars['registry_local_port']}"
    assert re.fullmatch(rf"{re.escape(address)}/{PROJECT_ENV}-lammps:cpu-[0-9a-f]{{16}}", image), image
    # The image layer pushed exactly that tag to the local registry (ECR's data plane).
    tags = subprocess.run(  # noqa: S603
        ["curl", "-sf", f"http://{address}/v2/{PROJECT_ENV}-lammps/tags/list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert image.rsplit(":", 1)[1] in json.loads(tags.stdout or "{}").get("tags", []), tags
    cmd = props["command"]
    assert cmd[:4] == ["run", "Ref::input", "--job-id", "Ref::sim_id"], cmd
    assert cmd[cmd.index("--interval") + 1] == str(INTERVAL_S), cmd  # the operator's setting
    assert "--fetch-inputs" in cmd, cmd
    env = {e["name"]: e["value"] for e in props["environment"]}
    assert env["LMPSPOT_BUCKET"] == BUCKET
    assert env["LMPSPOT_CHECKPOINT_INTERVAL"] == str(INTERVAL_S)
    rules = jd["retryStrategy"]["evaluateOnExit"]
    exit75 = [i for i, r in enumerate(rules) if r.get("onExitCode") == "75"]
    assert exit75 and rules[exit75[0]]["action"].upper() == "RETRY", rules
    queues = batch.describe_job_queues(jobQueues=[QUEUE])["jobQueues"]
    assert queues and queues[0]["state"] == "ENABLED", queues

    # 2. Submit through the real queue and job definition (the submit role's defaults),
    # with a spot notice during attempt 1; submit_wait runs the executor in the foreground.
    (tmp_path / "job").mkdir()
    script = tmp_path / "job" / "in.melt"
    script.write_text(LJ)
    t1 = time.monotonic()
    sub = run_playbook(
        "playbooks/submit.yml",
        aws,
        extra_vars={
            **site_vars,
            "submit_input": str(script),
            "submit_wait": True,
            "submit_inject_spot_notice_at": NOTICE_AT_S,
            "submit_spot_notice_lead_s": NOTICE_LEAD_S,
        },
        timeout=600,
    )
    submit_s = time.monotonic() - t1
    assert sub.rc == 0, sub
    m = re.search(r"sim_id (in-melt-[0-9a-f]{12});", sub.stdout)
    assert m, sub
    sim_id = m.group(1)

    # The job moto recorded is the one the compute layer defined, on its Spot queue.
    jobs = batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_NAME", "values": [f"lmpspot-{sim_id}"]}])
    summaries = jobs["jobSummaryList"]
    assert len(summaries) == 1, summaries
    job = batch.describe_jobs(jobs=[summaries[0]["jobId"]])["jobs"][0]
    assert job["jobDefinition"] == jd["jobDefinitionArn"], job
    assert job["parameters"] == {"sim_id": sim_id, "input": "/work/input/in.melt"}, job

    # 3a. The attempts ledger: notice -> exit 75 -> RETRY by the exit-code rule -> exit 0.
    doc = _json(s3, f"results/{sim_id}/attempts.json")
    assert doc["status"] == "SUCCEEDED", doc
    assert doc["job_id"] == job["jobId"]
    assert doc["job_definition"] == jd["jobDefinitionArn"]
    assert doc["queue"] == QUEUE
    assert len(doc["attempts"]) == 2, doc
    a1, a2 = doc["attempts"]
    assert (a1["attempt"], a1["exit_code"], a1["action"]) == (1, 75, "RETRY"), a1
    assert a1["why"].startswith(f"rule {exit75[0] + 1} "), a1  # the onExitCode 75 rule
    assert a1["notice_injected_at"], a1
    assert not a1["status_reason"].startswith("Host EC2"), a1  # it left before the reclaim
    assert (a2["attempt"], a2["exit_code"], a2["action"]) == (2, 0, "SUCCEEDED"), a2
    assert a2["notice_injected_at"] is None, a2
    assert a1["image"] == a2["image"] == image
    assert a1["stopped_at"] <= a2["started_at"]

    # 3b. Checkpoints, read from S3: attempt 2 resumed from attempt 1's last one.
    ckpt_keys = _keys(s3, f"checkpoints/{sim_id}/")
    manifests = sorted(
        (_json(s3, k) for k in ckpt_keys if re.search(r"/ckpt-\d+/manifest\.json$", k)),
        key=lambda x: x["seq"],
    )
    assert manifests, ckpt_keys
    assert all(x["job_id"] == sim_id for x in manifests), manifests
    by_attempt = {n: [x for x in manifests if x["attempt"] == n] for n in (1, 2)}
    assert by_attempt[1] and by_attempt[2], [(x["seq"], x["attempt"], x["step"]) for x in manifests]
    assert {x["attempt"] for x in manifests} == {1, 2}
    resumed_from = by_attempt[1][-1]  # the notice's checkpoint: attempt 1's newest
    assert 0 < resumed_from["step"] < STEPS, resumed_from
    assert resumed_from["extra"]["stage_done"] is False
    assert resumed_from["extra"]["exact"] is True  # NVE LJ: a bitwise-exact stop step
    assert resumed_from["created_at"] >= a1["notice_injected_at"].rstrip("Z"), (resumed_from, a1)
    # Attempt 2's checkpoints all come after it, in steps and in seq.
    assert all(x["seq"] > resumed_from["seq"] and x["step"] > resumed_from["step"] for x in by_attempt[2]), (
        manifests
    )
    # Attempt 2 ran from that step (its container output, shipped to S3 by the executor).
    log2 = _text(s3, a2["log"])
    assert f"attempt 2: resuming at step {resumed_from['step']} " in log2, log2
    assert "from the beginning" not in log2, log2
    log1 = _text(s3, a1["log"])
    assert f"checkpointed at step {resumed_from['step']} " in log1 and "exiting 75" in log1, log1
    # The final checkpoint is the script's last step, its stage done, and the pointer names it.
    final = manifests[-1]
    assert (final["attempt"], final["step"], final["extra"]["stage_done"]) == (2, STEPS, True), final
    latest = _json(s3, f"checkpoints/{sim_id}/latest.json")
    assert latest["seq"] == final["seq"], latest
    # Every file the final manifest lists is in S3.
    final_dir = f"checkpoints/{sim_id}/ckpt-{final['seq']:010d}/"
    assert final["files"], final
    for name in final["files"]:
        assert f"{final_dir}{name}" in ckpt_keys, (name, ckpt_keys)

    # 3c. What results/<sim_id>/ promises: the executor's ledger and one container log per
    # attempt (roles/submit/README.md), and the runner's outputs from its work directory
    # (the LAMMPS log, across both attempts, ending with the run's last lines).
    results = sorted(_keys(s3, f"results/{sim_id}/"))
    for key in ("attempts.json", "logs/attempt-1.log", "logs/attempt-2.log", "log.lammps"):
        assert f"results/{sim_id}/{key}" in results, results
    assert not any("/checkpoints/" in k for k in results), results
    lammps_log = s3.get_object(Bucket=BUCKET, Key=f"results/{sim_id}/log.lammps")["Body"].read().decode()
    assert "Total wall time" in lammps_log, lammps_log[-2000:]
    # The inputs the job fetched are the ones submit uploaded.
    assert _keys(s3, f"inputs/{sim_id}/") == [f"inputs/{sim_id}/in.melt"]

    # 4. Converged: the second run, image already pushed, changes nothing.
    t2 = time.monotonic()
    again = run_playbook("site.yml", aws, extra_vars=site_vars, timeout=900)
    rerun_s = time.monotonic() - t2
    assert again.rc == 0, again
    assert again.changed == 0, again
    jds_after = batch.describe_job_definitions(jobDefinitionName=JOB_DEFINITION, status="ACTIVE")
    assert [x["revision"] for x in jds_after["jobDefinitions"]] == [jd["revision"]]
    print(
        f"site.yml {site_s:.0f} s; submit+execute {submit_s:.0f} s (attempts {a1['duration_s']:.0f} s "
        f"+ {a2['duration_s']:.0f} s, resumed at step {resumed_from['step']}); site.yml again {rerun_s:.0f} s"
    )
