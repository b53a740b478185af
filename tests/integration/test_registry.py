"""The registry role against the local AWS: check -> apply -> apply again -> real state.

The ECR side is asserted through boto3 (what the moto server really holds), the local
registry v2 through its HTTP API and its pid file. Everything is deleted in ``finally``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from conftest import free_port

pytestmark = pytest.mark.integration

PLAY = "playbooks/registry.yml"


def _registry_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=3) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _pid_alive(pid_file) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def registry_vars(tmp_path):
    return {
        "registry_repository_name": "lmpspot-test-lammps",
        "registry_local_port": free_port(),
        "registry_untagged_expire_days": 3,
        "registry_keep_tagged_count": 5,
        "lmpspot_state_dir": str(tmp_path),
        "lmpspot_extra_tags": {"CostCenter": "md-42"},
    }


def test_registry_check_apply_idempotent_and_real_state(aws, playbook, registry_vars, tmp_path):
    ecr = aws.client("ecr")
    name = registry_vars["registry_repository_name"]
    port = registry_vars["registry_local_port"]
    try:
        check = playbook(PLAY, aws, "--check", extra_vars=registry_vars)
        assert check.rc == 0, check
        assert check.changed > 0, check
        with pytest.raises(ClientError, match="RepositoryNotFound"):
            ecr.describe_repositories(repositoryNames=[name])
        assert not _registry_up(port), "check mode must not start the local registry"

        first = playbook(PLAY, aws, extra_vars=registry_vars)
        assert first.rc == 0, first
        assert first.changed > 0, first

        again = playbook(PLAY, aws, extra_vars=registry_vars)
        assert again.rc == 0, again
        assert again.changed == 0, again

        check_after = playbook(PLAY, aws, "--check", extra_vars=registry_vars)
        assert check_after.rc == 0, check_after
        assert check_after.changed == 0, check_after

        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"

        rules = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])["rules"]
        by_status = {r["selection"]["tagStatus"]: r for r in rules}
        assert by_status["untagged"]["selection"]["countType"] == "sinceImagePushed"
        assert by_status["untagged"]["selection"]["countUnit"] == "days"
        assert by_status["untagged"]["selection"]["countNumber"] == 3
        assert by_status["tagged"]["selection"]["countType"] == "imageCountMoreThan"
        assert by_status["tagged"]["selection"]["countNumber"] == 5
        assert all(r["action"]["type"] == "expire" for r in rules)

        policy = json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])
        (stmt,) = policy["Statement"]
        assert stmt["Effect"] == "Allow"
        assert set(stmt["Action"]) == {
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
        }
        account = aws.client("sts").get_caller_identity()["Account"]
        principals = stmt["Principal"]["AWS"]
        principals = [principals] if isinstance(principals, str) else principals
        assert principals == [f"arn:aws:iam::{account}:root"]

        tags = {
            t["Key"]: t["Value"]
            for t in ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        }
        assert tags["Project"] == "lmpspot"
        assert tags["ManagedBy"] == "lmpspot"
        assert tags["CostCenter"] == "md-42"

        assert _registry_up(port)
        assert _pid_alive(tmp_path / "registry.pid")
        assert f"127.0.0.1:{port}" in (tmp_path / "registry" / "config.yml").read_text()
    finally:
        gone = playbook(PLAY, aws, extra_vars={**registry_vars, "registry_state": "absent"})
    assert gone.rc == 0, gone
    with pytest.raises(ClientError, match="RepositoryNotFound"):
        ecr.describe_repositories(repositoryNames=[name])
    assert not _registry_up(port)
    assert not (tmp_path / "registry.pid").exists()


def test_registry_refuses_to_pretend_an_encryption_change(aws, playbook, registry_vars):
    """An existing repository with other encryption is reported, not silently accepted."""
    ecr = aws.client("ecr")
    name = registry_vars["registry_repository_name"]
    key = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    ecr.create_repository(
        repositoryName=name,
        imageTagMutability="IMMUTABLE",
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key},
    )
    res = playbook(PLAY, aws, extra_vars={**registry_vars, "registry_local": False})
    assert res.rc != 0, res
    assert "cannot re-encrypt" in res.stdout, res


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"registry_repository_name": "Bad_Name"}, "valid ECR name"),
        ({"registry_keep_tagged_count": 0}, ">= 1"),
        ({"registry_kms_key_id": "alias/mine"}, "KMS key ARN"),
        ({"registry_local_host": "0.0.0.0"}, "loopback"),
    ],
)
def test_registry_rejects_bad_input_before_touching_anything(aws, playbook, registry_vars, override, needle):
    res = playbook(PLAY, aws, extra_vars={**registry_vars, **override})
    assert res.rc != 0, res
    assert needle in res.stdout, res
    assert aws.client("ecr").describe_repositories()["repositories"] == []
