"""Preflight against the real local AWS: every broken configuration is refused with a
message naming the setting and the fix, and nothing is created; the shipped one passes.

The broken configurations run through ``playbooks/preflight.yml`` (one ansible-playbook
run each, several at a time); one runs through ``site.yml`` to prove that the whole
system stops before anything is touched.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import REPO, VENV_BIN, LocalAws, PlaybookResult, free_port, run_playbook

pytestmark = pytest.mark.integration

PREFLIGHT = "playbooks/preflight.yml"
WORKERS = int(os.environ.get("LMPSPOT_TEST_WORKERS", "4"))

# (id, extra vars, words every one of which the failure output must contain)
BROKEN = [
    (
        "vpc-cidr-syntax",
        {"network_vpc_cidr": "10.42.0.0/33"},
        ["network_vpc_cidr: '10.42.0.0/33' is not a valid CIDR"],
    ),
    (
        "vpc-prefix",
        {"network_vpc_cidr": "10.0.0.0/8"},
        ["network_vpc_cidr: 10.0.0.0/8 has prefix /8", "/16 and /24"],
    ),
    (
        "subnet-outside-vpc",
        {
            "network_public_subnet_cidrs": ["10.42.0.0/24", "10.99.1.0/24"],
            "network_private_subnet_cidrs": ["10.42.16.0/20", "10.42.32.0/20"],
        },
        ["network_public_subnet_cidrs: 10.99.1.0/24 is not inside network_vpc_cidr 10.42.0.0/16"],
    ),
    (
        "subnets-overlap",
        {
            "network_public_subnet_cidrs": ["10.42.0.0/24", "10.42.17.0/24"],
            "network_private_subnet_cidrs": ["10.42.16.0/20", "10.42.32.0/20"],
        },
        [
            "network_public_subnet_cidrs and network_private_subnet_cidrs: "
            "10.42.17.0/24 and 10.42.16.0/20 overlap"
        ],
    ),
    (
        "subnets-per-az",
        {"network_public_subnet_cidrs": ["10.42.0.0/24"], "network_private_subnet_cidrs": ["10.42.16.0/20"]},
        ["network_public_subnet_cidrs: 1 subnet(s) for 2 availability zone(s)", "give one per zone"],
    ),
    (
        "one-az",
        {"lmpspot_availability_zones": ["us-east-2a"]},
        ["lmpspot_availability_zones: 1 zone(s) given; list at least 2"],
    ),
    (
        "az-wrong-region",
        {"lmpspot_availability_zones": ["us-east-2a", "us-west-2b"]},
        ["lmpspot_availability_zones: us-west-2b not zone(s) of lmpspot_region us-east-2"],
    ),
    (
        "az-does-not-exist",
        {"lmpspot_availability_zones": ["us-east-2a", "us-east-2q"]},
        ["lmpspot_availability_zones: us-east-2q not found in the region"],
    ),
    ("region-format", {"lmpspot_region": "us-east"}, ["lmpspot_region: 'us-east' is not an AWS region name"]),
    (
        "ssh-anywhere",
        {"network_ssh_allowed_cidrs": ["0.0.0.0/0"]},
        ["network_ssh_allowed_cidrs: 0.0.0.0/0 (/0) is wider", "opens SSH to the whole internet"],
    ),
    (
        "ssh-anywhere-v6",
        {"network_ssh_allowed_cidrs": ["::/0"]},
        ["network_ssh_allowed_cidrs: ::/0 (/0) is wider", "opens SSH to the whole internet"],
    ),
    (
        "ssh-host-bits",
        {"network_ssh_allowed_cidrs": ["203.0.113.5/24"]},
        ["network_ssh_allowed_cidrs: '203.0.113.5/24' has host bits set", "203.0.113.5/32"],
    ),
    (
        "unknown-instance-type",
        {"compute_gpu_instance_types": ["g5.xlarge", "g5.nonexistent"]},
        ["compute_gpu_instance_types: g5.nonexistent not offered in this region"],
    ),
    (
        "no-gpu-instance-type",
        {"compute_gpu_instance_types": ["g5.xlarge", "m5.large"]},
        ["compute_gpu_instance_types: m5.large has no GPU"],
    ),
    (
        "too-many-gpus-for-types",
        {"compute_gpu_instance_types": ["g5.xlarge", "g6.xlarge"], "compute_gpus_per_job": 4},
        ["compute_gpus_per_job: 4 GPUs per job but no type", "most: 1 on g5.xlarge"],
    ),
    (
        "gpus-per-job-range",
        {"compute_gpus_per_job": 9},
        ["compute_gpus_per_job: 9 must be 1, 2, 4 or 8"],
    ),
    (
        "max-vcpus-too-small",
        {"compute_gpu_instance_types": ["p4d.24xlarge"], "compute_gpus_per_job": 8, "compute_max_vcpus": 64},
        ["compute_max_vcpus: 64 is below the 96 vCPUs"],
    ),
    (
        "gpu-double-on-a10g",
        {"image_target": "gpu", "compute_gpu_instance_types": ["p4d.24xlarge", "g5.xlarge"]},
        ["image_gpu_precision: double on g5.xlarge (A10G", "image_gpu_precision: mixed"],
    ),
    (
        "gpu-arch-other-major",
        {"image_target": "gpu", "image_gpu_arch": "sm_90", "compute_gpu_instance_types": ["p4d.24xlarge"]},
        ["image_gpu_arch: the image is built for sm_90 but p4d.24xlarge has A100", "image_gpu_arch: sm_80"],
    ),
    (
        "kokkos-arch-mismatch",
        {
            "image_target": "gpu",
            "image_gpu_accelerator": "kokkos",
            "image_gpu_arch": "AMPERE80",
            "image_gpu_precision": "mixed",
            "compute_gpu_instance_types": ["g6e.xlarge"],
        },
        ["image_gpu_arch: the image is built for AMPERE80 but g6e.xlarge has L40S", "image_gpu_arch: ADA89"],
    ),
    (
        "bucket-placeholder",
        {"storage_bucket_name": "CHANGE-ME-lmpspot-results"},
        ["storage_bucket_name: 'CHANGE-ME-lmpspot-results' is the placeholder"],
    ),
    (
        "bucket-uppercase",
        {"storage_bucket_name": "Lmpspot_Results"},
        ["storage_bucket_name: 'Lmpspot_Results' may contain only"],
    ),
    (
        "bucket-ip",
        {"storage_bucket_name": "192.168.5.4"},
        ["storage_bucket_name: '192.168.5.4' must not be formatted as an IP"],
    ),
    (
        "bucket-s3alias",
        {"storage_bucket_name": "lab-s3alias"},
        ["storage_bucket_name: 'lab-s3alias' must not end with '-s3alias'"],
    ),
    (
        "lifecycle-archive-before-tiering",
        {"storage_results_deep_archive_days": 10},
        ["storage_results_deep_archive_days: 10 must be at least storage_results_tiering_days + 90 (120)"],
    ),
    (
        "lifecycle-noncurrent",
        {"storage_checkpoint_noncurrent_days": 0},
        ["storage_checkpoint_noncurrent_days: 0 must be an integer"],
    ),
    (
        "checkpoint-interval",
        {"lmpspot_checkpoint_interval": 30},
        ["lmpspot_checkpoint_interval: 30 must be an integer number of seconds >= 60"],
    ),
    (
        "checkpoint-retention",
        {"lmpspot_checkpoint_retention": 0},
        ["lmpspot_checkpoint_retention: 0 must be an integer >= 1"],
    ),
    (
        "project-uppercase",
        {"lmpspot_project": "LmpSpot"},
        ["lmpspot_project: 'LmpSpot' must be a lowercase DNS label"],
    ),
    (
        "environment-too-long",
        {"lmpspot_environment": "development"},
        ["lmpspot_environment: 'development' must be a lowercase DNS label of 1 to 10"],
    ),
    (
        "extra-tags-override",
        {"lmpspot_extra_tags": {"Project": "other"}},
        ["lmpspot_extra_tags: may not set Project"],
    ),
    (
        "budget-negative",
        {"lmpspot_budget_monthly_usd": -5},
        ["lmpspot_budget_monthly_usd: -5 must be a number of USD >= 0"],
    ),
    (
        "endpoint-service",
        {
            "network_interface_endpoint_services": [
                "ecr.api",
                "ecr.dkr",
                "logs",
                "ecs",
                "ecs-agent",
                "ecs-telemetry",
                "s4",
            ]
        },
        ["network_interface_endpoint_services: 's4' is not a supported service"],
    ),
    (
        "local-endpoint-not-loopback",
        {"lmpspot_local_aws_host": "0.0.0.0"},
        ["lmpspot_aws_endpoint_url: 'https://0.0.0.0:", "must be an https://127.0.0.1:PORT URL"],
    ),
    (
        "local-aws-with-batch-executor",
        {"lmpspot_job_executor": "batch"},
        [
            "lmpspot_job_executor: 'batch' cannot work against the local AWS (lmpspot_local_aws: true)",
            "nothing would run; set it to local in inventories/<env>/group_vars/all/aws.yml",
        ],
    ),
    (
        "local-aws-with-reachable-instances",
        {"lmpspot_aws_instances_reachable": True},
        ["lmpspot_aws_instances_reachable: true cannot work against the local AWS", "set it to false"],
    ),
    (
        "executor-choice-from-argument-spec",
        {"lmpspot_job_executor": "podman"},
        ["Validation of arguments failed", "lmpspot_job_executor must be one of: batch, local"],
    ),
    (
        "type-error-from-argument-spec",
        {"compute_gpus_per_job": "two"},
        [
            "Validation of arguments failed",
            "argument 'compute_gpus_per_job' is of type str",
            "convert to int",
        ],
    ),
    (
        "several-at-once",
        {
            "network_vpc_cidr": "10.42.0.0/33",
            "storage_bucket_name": "CHANGE-ME",
            "compute_gpu_instance_types": ["m5.large"],
        },
        [
            "3 configuration problem(s)",
            "network_vpc_cidr: '10.42.0.0/33'",
            "storage_bucket_name: 'CHANGE-ME' is the placeholder",
            "compute_gpu_instance_types: m5.large has no GPU",
        ],
    ),
]


def snapshot(aws: LocalAws) -> dict[str, list]:
    """Everything lmpspot could create, as sorted ids (moto's defaults included)."""
    ec2 = aws.client("ec2")
    iam = aws.client("iam")
    return {
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
        "non_default_vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
        "security_groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
        "internet_gateways": sorted(
            g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]
        ),
        "vpc_endpoints": sorted(e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]),
        "launch_templates": sorted(
            t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        ),
        "instances": sorted(
            i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
        ),
        "buckets": sorted(b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]),
        "iam_roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "iam_local_policies": sorted(p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]),
        "instance_profiles": sorted(
            p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
        ),
        "ecr": sorted(r["repositoryName"] for r in aws.client("ecr").describe_repositories()["repositories"]),
        "batch_ce": sorted(
            c["computeEnvironmentName"]
            for c in aws.client("batch").describe_compute_environments()["computeEnvironments"]
        ),
        "sns": sorted(t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]),
    }


@pytest.fixture(scope="module")
def broken_runs(moto_server: LocalAws):
    """Run every broken configuration once (several at a time) against a fresh local AWS."""
    moto_server.reset()
    before = snapshot(moto_server)

    def run(case):
        return case[0], run_playbook(PREFLIGHT, moto_server, extra_vars=case[1], timeout=300)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = dict(pool.map(run, BROKEN))
    return before, results, snapshot(moto_server)


def test_at_least_twenty_broken_configurations():
    assert len({case[0] for case in BROKEN}) == len(BROKEN) >= 20


@pytest.mark.parametrize(("name", "extra_vars", "words"), BROKEN, ids=[case[0] for case in BROKEN])
def test_broken_configuration_is_refused(broken_runs, name, extra_vars, words):
    _, results, _ = broken_runs
    res: PlaybookResult = results[name]
    assert res.rc != 0, res
    assert res.failed == 1 and res.changed == 0, res
    out = res.stdout + res.stderr
    for w in words:
        assert w in out, f"{w!r} not in output\n{res}"


def test_broken_configurations_create_nothing(broken_runs):
    before, _, after = broken_runs
    assert after == before
    assert after["non_default_vpcs"] == [] and after["buckets"] == [] and after["launch_templates"] == []


def test_shipped_configuration_passes_read_only(aws, playbook):
    before = snapshot(aws)
    res = playbook(PREFLIGHT, aws)
    assert res.rc == 0, res
    assert res.changed == 0 and res.failed == 0, res
    # The AWS checks really ran (the local AWS is up): not skipped.
    assert "ok: [localhost]" in res.stdout.split("Describe the GPU instance types")[1].split("TASK [")[0], res
    assert "The local AWS is not running yet" not in res.stdout, res
    assert snapshot(aws) == before


def test_check_mode(aws, playbook):
    good = playbook(PREFLIGHT, aws, "--check")
    assert good.rc == 0 and good.changed == 0, good
    bad = playbook(PREFLIGHT, aws, "--check", extra_vars={"compute_gpu_instance_types": ["m5.large"]})
    assert bad.rc != 0, bad
    assert "compute_gpu_instance_types: m5.large has no GPU" in bad.stdout, bad


def test_aws_checks_skipped_without_a_local_aws(playbook, tmp_path):
    """Before the local AWS is started (first `make up`), offline checks still run."""
    offline = {"lmpspot_local_aws_port": free_port(), "lmpspot_state_dir": str(tmp_path)}
    res = playbook(PREFLIGHT, None, extra_vars=offline)
    assert res.rc == 0 and res.changed == 0, res
    assert "The local AWS is not running yet" in res.stdout, res
    bad = playbook(PREFLIGHT, None, extra_vars={**offline, "lmpspot_checkpoint_retention": 0})
    assert bad.rc != 0 and "lmpspot_checkpoint_retention: 0" in bad.stdout, bad


def test_site_stops_before_anything_is_touched(aws, playbook):
    site = (REPO / "site.yml").read_text()
    missing = [
        line.split(":", 1)[1].strip()
        for line in site.splitlines()
        if "import_playbook:" in line and not (REPO / line.split(":", 1)[1].strip()).exists()
    ]
    if missing:
        pytest.skip(f"site.yml imports playbooks not written yet: {', '.join(missing)}")
    before = snapshot(aws)
    res = playbook(
        "site.yml", aws, extra_vars={"storage_bucket_name": "CHANGE-ME", "network_vpc_cidr": "10.42.0.0/16"}
    )
    assert res.rc != 0, res
    assert "storage_bucket_name: 'CHANGE-ME' is the placeholder" in res.stdout, res
    assert res.changed == 0, res
    assert "TASK [network" not in res.stdout and "TASK [storage" not in res.stdout, res
    assert snapshot(aws) == before


def run_module(aws: LocalAws, args: dict, *extra: str) -> dict:
    """Run lmpspot.aws.ec2_instance_type_info ad hoc against the local AWS; its JSON result."""
    env = {
        **os.environ,
        **aws.env,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }
    cmd = [
        str(VENV_BIN / "ansible"),
        "localhost",
        "-m",
        "lmpspot.aws.ec2_instance_type_info",
        "-a",
        json.dumps(args),
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    # The json callback's document, followed by profile_tasks' recap.
    data, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{") :])
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_instance_type_info_module(aws):
    res = run_module(
        aws, {"instance_types": ["g5.xlarge", "p4d.24xlarge", "m5.large", "g5.nonexistent", "g5.xlarge"]}
    )
    assert res["changed"] is False and not res.get("failed"), res
    facts = {t["instance_type"]: t for t in res["instance_types"]}
    assert list(facts) == ["g5.xlarge", "p4d.24xlarge", "m5.large"]
    assert res["missing"] == ["g5.nonexistent"]
    assert facts["g5.xlarge"]["gpus"] == [
        {"manufacturer": "NVIDIA", "name": "A10G", "count": 1, "memory_mib": 22888}
    ]
    assert facts["g5.xlarge"]["vcpus"] == 4 and facts["g5.xlarge"]["memory_mib"] == 16384
    assert facts["p4d.24xlarge"]["gpu_count"] == 8 and facts["p4d.24xlarge"]["gpus"][0]["name"] == "A100"
    assert facts["p4d.24xlarge"]["gpu_memory_mib"] == 8 * 40960
    assert "spot" in facts["p4d.24xlarge"]["supported_usage_classes"]
    assert facts["m5.large"]["gpus"] == [] and facts["m5.large"]["gpu_count"] == 0


def test_instance_type_info_module_check_mode_and_all_unknown(aws):
    res = run_module(aws, {"instance_types": ["zz1.nothing", "zz2.nothing"]}, "--check")
    assert res["changed"] is False and not res.get("failed"), res
    assert res["instance_types"] == [] and res["missing"] == ["zz1.nothing", "zz2.nothing"]
