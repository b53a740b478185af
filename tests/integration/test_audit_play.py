"""playbooks/audit.yml against a clean ``site.yml`` deployment on the local AWS, then seeded.

One story (``site.yml`` takes minutes, so it runs once):

1. ``site.yml`` stands the whole system up (inventories/local).
2. The audit passes: zero counted findings, exit 0; the local AWS's documented limits are
   listed as waived (the TLS-only policy first among them), not hidden; audit.json and
   audit.md are written.
3. ``--check`` gives the same verdict and reports no change (and the run is a second run:
   changed=0).
4. A seeded high finding (SSH open to the world on the bastion's group) makes the play
   fail (exit 2) with a summary naming it; a seeded drift (a queue's priority) is reported
   as medium and, at the default threshold, alone does not fail the play --
   ``audit_fail_severity=medium`` makes it fail (CI-friendly threshold).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import LocalAws, free_port, named_resources, run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PODMAN = shutil.which("podman")
PROJECT_ENV = "lmpspot-local"


@pytest.fixture
def site_vars(aws: LocalAws, tmp_path):
    """Extra vars of site.yml and the audits; stops the local registry after."""
    if PODMAN is None:
        pytest.skip("podman is not installed (scripts/bootstrap.sh)")
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)  # the local registry and the containers read from here
    ev = {"registry_local_port": free_port(), "lmpspot_state_dir": str(state)}
    yield ev
    down = run_playbook("playbooks/registry.yml", aws, extra_vars={**ev, "registry_state": "absent"})
    conf = state / "containers.conf"
    penv = {**os.environ, "CONTAINERS_CONF": str(conf)} if conf.exists() else dict(os.environ)
    listed = subprocess.run(
        [PODMAN, "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
        env=penv,
    )
    for ref in re.findall(rf"127\.0\.0\.1:{ev['registry_local_port']}/\S+", listed.stdout):
        subprocess.run(
            [PODMAN, "rmi", "--force", "--ignore", ref], capture_output=True, check=False, env=penv
        )
    assert down.rc == 0, down


def _report(ev) -> dict:
    return json.loads((Path(ev["lmpspot_state_dir"]) / "audit" / "audit.json").read_text())


def test_audit_clean_deployment_then_seeded(aws: LocalAws, site_vars):
    site = run_playbook("site.yml", aws, extra_vars=site_vars, timeout=1500)
    assert site.rc == 0, site

    # 2. A clean deployment: nothing counted, the play passes.
    clean = run_playbook("playbooks/audit.yml", aws, extra_vars=site_vars)
    assert clean.rc == 0, clean
    report = _report(site_vars)
    assert report["summary"]["counted"] == 0, json.dumps(report["findings"], indent=1)
    assert report["errors"] == []
    assert report["checks"] == [
        "security_groups",
        "buckets",
        "imds",
        "ebs",
        "iam",
        "ecr",
        "batch",
        "drift",
        "tags",
    ]
    # Drift looked up every resource the layers declare, and they declare all that site.yml
    # made of those kinds (roles, profiles, log groups, alarms, rules, schedules, ...).
    compared = {(r["kind"], r["name"]) for r in report["compared"]}
    assert compared and all(r["present"] for r in report["compared"]), report["compared"]
    made = named_resources(aws, PROJECT_ENV)
    assert made == compared, f"made, not declared: {made - compared}; declared, not made: {compared - made}"
    waived = {(f["id"], f["resource"]) for f in report["waived"]}
    assert ("s3.tls_only_policy", f"arn:aws:s3:::{PROJECT_ENV}-results") in waived
    assert all(f["waiver_reason"] for f in report["waived"])
    md = (Path(site_vars["lmpspot_state_dir"]) / "audit" / "audit.md").read_text()
    assert "## Findings\n\nNone." in md and "s3.tls_only_policy" in md

    # 3. --check: the same verdict, no change (read-only; the report is still written).
    check = run_playbook("playbooks/audit.yml", aws, "--check", extra_vars=site_vars)
    assert check.rc == 0, check
    assert check.changed == 0, check
    assert _report(site_vars)["summary"]["counted"] == 0

    # 4. Seed: SSH from anywhere on the bastion's group (critical), a queue's priority (drift).
    ec2, batch = aws.client("ec2"), aws.client("batch")
    sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{PROJECT_ENV}-bastion"]}])[
        "SecurityGroups"
    ][0]["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    batch.update_job_queue(jobQueue=f"{PROJECT_ENV}-ondemand", priority=99)
    seeded = run_playbook("playbooks/audit.yml", aws, extra_vars=site_vars)
    assert seeded.rc == 2, seeded  # ansible-playbook: a task failed
    assert "audit FAILED: 1 finding(s) at or above high" in seeded.stdout, seeded
    assert sg in seeded.stdout, seeded
    found = {(f["id"], f["severity"]): f for f in _report(site_vars)["findings"]}
    assert found[("sg.open_admin_port", "critical")]["resource"] == sg
    drift = found[("drift.config", "medium")]
    assert "priority" in drift["message"] and "99" in drift["message"], drift

    # The threshold is the operator's: drift alone passes at high, fails at medium.
    only_drift = {**site_vars, "audit_checks": ["drift"]}
    assert run_playbook("playbooks/audit.yml", aws, extra_vars=only_drift).rc == 0
    strict = run_playbook(
        "playbooks/audit.yml", aws, extra_vars={**only_drift, "audit_fail_severity": "medium"}
    )
    assert strict.rc == 2, strict
    assert "audit FAILED: 1 finding(s) at or above medium" in strict.stdout, strict
