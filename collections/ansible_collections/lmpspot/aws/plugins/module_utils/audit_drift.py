# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift of the configured VPC, results bucket and Batch resources (docs/AUDIT.md, "Drift:
what is compared"): the config (``expected``) against what the account has (``actual``).

The network layer's resources are compared in ``audit_network.py``, the resources each
layer declares in ``audit_resources.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import finding, missing

COMPUTE_PLAY = "playbooks/compute.yml"
STORAGE_PLAY = "playbooks/storage.yml"


def _drift(resource: str, what: str, want: Any, have: Any, fix: str) -> dict[str, str]:
    return finding(
        "drift.config",
        "medium",
        resource,
        f"{what}: config says {want!r}, the account has {have!r}",
        fix,
    )


def check_drift(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list:
    """Config (``expected``, see docs/AUDIT.md) against what exists (``actual``).

    Compared: the VPC's CIDR; the results bucket's lifecycle rules (ID, status, days);
    each compute environment's instance types, max vCPUs and state (unless its ``state``
    is null); each queue's priority, environment order and state; each job definition's
    image repository (the tag moves with every image build and is not drift).
    """
    out = []
    if expected.get("vpc"):
        out += _vpc_drift(expected["vpc"], actual.get("vpc"))
    if expected.get("bucket"):
        out += _bucket_drift(expected["bucket"], actual.get("lifecycle_rules"))
    ces = {c["computeEnvironmentName"]: c for c in actual.get("compute_environments", [])}
    for want in expected.get("compute_environments", []):
        out += _compute_environment_drift(want, ces.get(want["name"]))
    queues = {q["jobQueueName"]: q for q in actual.get("job_queues", [])}
    for want in expected.get("job_queues", []):
        out += _job_queue_drift(want, queues.get(want["name"]))
    jds = actual.get("job_definitions", {})
    for want in expected.get("job_definitions", []):
        out += _job_definition_drift(want, jds.get(want["name"]))
    return out


def _vpc_drift(vpc: Mapping[str, Any], have: Mapping[str, Any] | None) -> list:
    if have is None:
        return [missing("VPC", vpc["name"], "playbooks/network.yml")]
    if have.get("CidrBlock") == vpc["cidr"]:
        return []
    return [
        _drift(
            have["VpcId"],
            f"VPC {vpc['name']} CIDR",
            vpc["cidr"],
            have.get("CidrBlock"),
            "A VPC's CIDR cannot change: set network_vpc_cidr back, or rebuild the network layer",
        )
    ]


def _bucket_drift(bucket: Mapping[str, Any], have_rules: list | None) -> list:
    """The results bucket's lifecycle rules: each configured rule Enabled, with its days."""
    name = bucket["name"]
    if have_rules is None:
        return [missing("bucket", name, STORAGE_PLAY)]
    out = []
    by_id = {r.get("ID"): r for r in have_rules}
    for rule in bucket.get("lifecycle_rules", []):
        got = by_id.get(rule["id"])
        if got is None or got.get("Status") != "Enabled":
            status = got.get("Status") if got else "absent"
            out.append(
                _drift(
                    name,
                    f"bucket {name} lifecycle rule {rule['id']}",
                    "Enabled",
                    status,
                    f"Run {STORAGE_PLAY}",
                )
            )
            continue
        days = _rule_days(got, rule["field"])
        if days != rule["days"]:
            out.append(
                _drift(
                    name,
                    f"bucket {name} lifecycle rule {rule['id']} {rule['field']}",
                    rule["days"],
                    days,
                    f"Run {STORAGE_PLAY}",
                )
            )
    return out


def _compute_environment_drift(want: Mapping[str, Any], have: Mapping[str, Any] | None) -> list:
    if have is None:
        return [missing("compute environment", want["name"], COMPUTE_PLAY)]
    out = []
    res = have.get("computeResources") or {}
    arn = have.get("computeEnvironmentArn", want["name"])
    what = f"compute environment {want['name']}"
    if sorted(res.get("instanceTypes", [])) != sorted(want["instance_types"]):
        out.append(
            _drift(
                arn,
                f"{what} instance types",
                sorted(want["instance_types"]),
                sorted(res.get("instanceTypes", [])),
                f"Run {COMPUTE_PLAY} (compute_replace_environments: true if AWS cannot change it in place)",
            )
        )
    if int(res.get("maxvCpus", -1)) != int(want["max_vcpus"]):
        out.append(
            _drift(
                arn, f"{what} max vCPUs", int(want["max_vcpus"]), res.get("maxvCpus"), f"Run {COMPUTE_PLAY}"
            )
        )
    # state: null skips it (the night window closes the environments on a schedule).
    want_state = want.get("state", "ENABLED")
    if want_state and have.get("state") != want_state:
        out.append(
            _drift(
                arn,
                f"{what} state",
                want_state,
                have.get("state"),
                f"Run {COMPUTE_PLAY} (or wait for the night window to open it)",
            )
        )
    return out


def _job_queue_drift(want: Mapping[str, Any], have: Mapping[str, Any] | None) -> list:
    if have is None:
        return [missing("job queue", want["name"], COMPUTE_PLAY)]
    out = []
    arn = have.get("jobQueueArn", want["name"])
    what = f"job queue {want['name']}"
    fix = f"Run {COMPUTE_PLAY}"
    order = [
        o["computeEnvironment"].rsplit("/", 1)[-1]
        for o in sorted(have.get("computeEnvironmentOrder", []), key=lambda o: o.get("order", 0))
    ]
    if order != list(want["compute_environments"]):
        out.append(_drift(arn, f"{what} environment order", list(want["compute_environments"]), order, fix))
    if int(have.get("priority", -1)) != int(want["priority"]):
        out.append(_drift(arn, f"{what} priority", int(want["priority"]), have.get("priority"), fix))
    if have.get("state") != "ENABLED":
        out.append(_drift(arn, f"{what} state", "ENABLED", have.get("state"), fix))
    return out


def _job_definition_drift(want: Mapping[str, Any], have: Mapping[str, Any] | None) -> list:
    if have is None:
        return [missing("job definition", want["name"], COMPUTE_PLAY)]
    image = (have.get("containerProperties") or {}).get("image", "")
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if not want.get("image_repository") or repo == want["image_repository"]:
        return []
    return [
        _drift(
            have.get("jobDefinitionArn", want["name"]),
            f"job definition {want['name']} image repository",
            want["image_repository"],
            repo,
            f"Run playbooks/image.yml and {COMPUTE_PLAY}",
        )
    ]


def _rule_days(rule: Mapping[str, Any], field: str) -> int | None:
    if field == "noncurrent_days":
        return (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
    if field == "abort_multipart_days":
        return (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
    if field == "tiering_days":
        for t in rule.get("Transitions", []):
            if t.get("StorageClass") == "INTELLIGENT_TIERING":
                return t.get("Days")
        return None
    raise ValueError(f"unknown lifecycle field {field!r}")
