"""playbooks/teardown.yml against the local AWS, after a real site.yml.

Once per module: site.yml stands the deployment up (every layer but the image build, see
``deployment``) and the results bucket gets versioned objects and a delete marker. Then,
in order:

1. without, or with a wrong, confirmation (or a data-deletion value that is not the
   bucket) the play refuses and the account is exactly as before (a boto3 snapshot);
2. ``--check`` prints the plan (the layers in order, the bucket's contents and that it is
   kept), reports changes, and changes nothing;
3. the teardown leaves no resource of the deployment but the bucket, whose objects and
   versions are all still there (tag scan: tests/integration/tagscan.py); it changed what
   --check predicted;
4. a second teardown changes nothing;
5. ``teardown_delete_data=<bucket>``: --check lists what would be lost and deletes nothing;
   then the real run lists it, deletes every version and the bucket, and (with
   teardown_stop_local) stops the local registry; the tag scan is empty.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from conftest import free_port, run_playbook
from tagscan import project_resources

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

PROJECT, ENVIRONMENT = "lmpspot", "local"  # inventories/local
DEPLOYMENT = f"{PROJECT}-{ENVIRONMENT}"
BUCKET = f"{DEPLOYMENT}-results"
SEED = [  # (key, body): two versions of one checkpoint, results, inputs, a deleted object
    ("checkpoints/sim-1/step-1000/restart.bin", b"a" * 4096),
    ("checkpoints/sim-1/step-1000/restart.bin", b"b" * 4096),
    ("results/sim-1/log.lammps", b"Step Temp\n" * 100),
    ("inputs/sim-1/in.lj", b"units lj\n"),
    ("scratch.txt", b"gone"),
]


def _without_kms_keys(found: list[str]) -> list[str]:
    """The scan's findings less KMS keys, which stay in local mode only.

    inventories/local sets ``monitoring_delete_kms_key: false``: the local AWS's
    ScheduleKeyDeletion fails on the key ARN amazon.aws.kms_key sends, so the alert topic's
    key (which AWS itself would only schedule for deletion) is left there. At most one.
    """
    assert sum(r.startswith("kms key ") for r in found) <= 1, found
    return [r for r in found if not r.startswith("kms key ")]


def _changed_tasks(stdout: str) -> list[str]:
    """Names of the tasks that reported changed, in order."""
    out, task = [], None
    for line in stdout.splitlines():
        m = re.match(r"TASK \[(.*)\] \*+$", line)
        if m:
            task = m.group(1)
        elif line.startswith("changed:") and task and (not out or out[-1] != task):
            out.append(task)
    return out


class Deployment:
    def __init__(self, aws, ev):
        self.aws = aws
        self.ev = ev

    def run(self, *args, **extra):
        return run_playbook(
            "playbooks/teardown.yml", self.aws, *args, extra_vars={**self.ev, **extra}, timeout=1500
        )

    @property
    def ssh_config(self) -> Path:
        return Path(self.ev["lmpspot_state_dir"]) / "ssh" / "config"

    def scan(self) -> list[str]:
        return project_resources(self.aws.client, PROJECT, ENVIRONMENT)

    def versions(self) -> list[tuple[str, str, bool]]:
        s3 = self.aws.client("s3")
        page = s3.list_object_versions(Bucket=BUCKET)
        items = [(v["Key"], v["VersionId"], False) for v in page.get("Versions", [])]
        items += [(m["Key"], m["VersionId"], True) for m in page.get("DeleteMarkers", [])]
        return sorted(items)

    def snapshot(self):
        return self.scan(), self.versions()


@pytest.fixture(scope="module")
def deployment(moto_server, tmp_path_factory):
    """site.yml on an emptied local AWS, with a state dir and local registry of its own."""
    state = tmp_path_factory.mktemp("teardown-state")
    ev = {"registry_local_port": free_port(), "lmpspot_state_dir": str(state)}
    moto_server.reset()
    try:
        # The image layer (a podman build and push into the local registry) is skipped to
        # keep the test's time down: it creates no AWS resource (the compute layer names the
        # image by its content tag either way), and the teardown's image step still runs.
        site = run_playbook("site.yml", moto_server, "--skip-tags", "image", extra_vars=ev, timeout=1500)
        fatal = [line for line in site.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
        assert site.rc == 0, "\n".join(fatal) + f"\n{site}"
        s3 = moto_server.client("s3")
        for key, body in SEED:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        s3.delete_object(Bucket=BUCKET, Key="scratch.txt")
        yield Deployment(moto_server, ev)
    finally:
        # Whatever happened above (a failed site.yml included): no local registry left behind.
        run_playbook("playbooks/registry.yml", moto_server, extra_vars={**ev, "registry_state": "absent"})


@pytest.fixture(scope="module")
def results():
    return {}


def test_site_created_the_deployment(deployment):
    found = deployment.scan()
    for kind in (
        "vpc ",
        "subnet ",
        "security-group ",
        "vpc-endpoint ",
        "instance ",
        "iam role ",
        "ecr repository ",
        "batch compute environment ",
        "batch job queue ",
        "batch job definition ",
        "s3 bucket ",
        "sns topic ",
        "cloudwatch alarm ",
        "log group ",
        "eventbridge rule ",
    ):
        assert any(r.startswith(kind) for r in found), (kind, found)
    assert len(deployment.versions()) == len(SEED) + 1
    assert deployment.ssh_config.exists()  # the bastion layer's operator SSH config


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"teardown_confirm": "lmpspot-prod"},
        {"teardown_confirm": ENVIRONMENT},
        {"teardown_confirm": DEPLOYMENT, "teardown_delete_data": "yes"},
    ],
    ids=["no-confirmation", "other-deployment", "environment-only", "delete-data-not-the-bucket"],
)
def test_refuses_and_touches_nothing(deployment, extra):
    before = deployment.snapshot()
    res = deployment.run(**extra)
    assert res.rc != 0 and res.failed == 1, res
    assert "Nothing was touched" in res.stdout, res
    assert f"teardown_confirm={DEPLOYMENT}" in res.stdout or f"teardown_delete_data={BUCKET}" in res.stdout, (
        res
    )
    assert res.changed == 0
    assert deployment.snapshot() == before


def test_check_prints_the_plan_and_changes_nothing(deployment, results):
    before = deployment.snapshot()
    res = deployment.run("--check")
    assert res.rc == 0, res
    assert deployment.snapshot() == before
    assert res.changed > 0, res
    out = res.stdout
    order = [
        out.index(f'"{layer}')
        for layer in (
            "monitoring ",
            "night_window ",
            "compute ",
            "hosts ",
            "bastion ",
            "network ",
            "identity ",
            "registry ",
        )
    ]
    assert order == sorted(order), out
    assert f"results bucket {BUCKET}: KEPT with its data: 3 object(s)" in out, out
    assert "5 version(s) in all, 1 delete marker(s)" in out, out
    assert "checkpoints/sim-1/step-1000/restart.bin" in out
    assert f"To apply: -e teardown_confirm={DEPLOYMENT}" in out
    assert "left running" in out
    results["check"] = _changed_tasks(out)


def test_teardown_leaves_only_the_bucket_with_its_data(deployment, results):
    before_versions = deployment.versions()
    res = deployment.run(teardown_confirm=DEPLOYMENT)
    assert res.rc == 0, res
    assert _without_kms_keys(deployment.scan()) == [f"s3 bucket {BUCKET}"]
    assert deployment.versions() == before_versions
    assert f"Bucket {BUCKET} is KEPT with its data (3 object(s)" in res.stdout
    assert "The local AWS and the local registry are still running." in res.stdout
    assert not deployment.ssh_config.exists()
    with socket.create_connection(("127.0.0.1", deployment.ev["registry_local_port"]), timeout=5):
        pass  # the local registry keeps running
    # --check predicted these changes (with a stand-in task where a module cannot: the
    # environments' deletion, which the module shows only once the queues are gone, and the
    # ECR repository's, which ecs_ecr reports as skipped).
    stand_ins = {
        "compute : Predict the compute environments' deletion (--check, after the queues)": (
            "compute : Disable and delete the compute environments"
        ),
        "registry : Predict the repository's deletion (--check)": "registry : Delete the ECR repository",
    }
    predicted = [stand_ins.get(t, t) for t in results.get("check", [])]
    assert predicted, "the --check test did not run first"
    real = _changed_tasks(res.stdout)
    assert sorted(set(real)) == sorted(set(predicted)), (real, predicted)


def test_second_teardown_changes_nothing(deployment):
    res = deployment.run(teardown_confirm=DEPLOYMENT)
    assert res.rc == 0, res
    assert res.changed == 0, res
    assert _without_kms_keys(deployment.scan()) == [f"s3 bucket {BUCKET}"]


def test_delete_data_lists_first_then_deletes_every_version(deployment):
    versions = deployment.versions()
    ask = {"teardown_confirm": DEPLOYMENT, "teardown_delete_data": BUCKET}
    preview = deployment.run("--check", "--tags", "storage", **ask)
    assert preview.rc == 0, preview
    assert f"Would delete bucket {BUCKET} and ALL its data: 3 current object(s)" in preview.stdout, preview
    assert "'checkpoints/': {'objects': 1, 'bytes': 4096, 'versions': 2}" in preview.stdout, preview
    assert deployment.versions() == versions

    res = deployment.run("--tags", "storage,registry", teardown_stop_local=True, **ask)
    assert res.rc == 0, res
    out = res.stdout
    assert f"Deleting bucket {BUCKET} and ALL its data: 3 current object(s)" in out, res
    assert out.index("Deleting bucket") < out.index(
        "TASK [storage : Delete every object version and delete marker, then the bucket]"
    )
    assert "results/sim-1/log.lammps" in out
    assert _without_kms_keys(deployment.scan()) == []
    buckets = [b["Name"] for b in deployment.aws.client("s3").list_buckets()["Buckets"]]
    assert BUCKET not in buckets
    with pytest.raises(OSError):  # teardown_stop_local stopped the local registry
        socket.create_connection(("127.0.0.1", deployment.ev["registry_local_port"]), timeout=5).close()


def test_refuses_against_the_aws_inventory_before_any_call():
    """inventories/aws passes the guard's argument checks and refuses without confirmation.

    No AWS endpoint or credentials are given: the refusal comes before any AWS call.
    """
    res = run_playbook("playbooks/teardown.yml", None, inventory="inventories/aws")
    assert res.rc != 0 and res.failed == 1, res
    assert "Confirm with -e teardown_confirm=lmpspot-prod" in res.stdout, res
    assert "Nothing was touched" in res.stdout
