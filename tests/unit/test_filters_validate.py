"""Unit tests for the lmpspot.aws validate filters (preflight's configuration checks)."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter import offerings, validate
from ansible_collections.lmpspot.aws.plugins.filter.offerings import (
    availability_zone_problems,
    instance_type_problems,
)
from ansible_collections.lmpspot.aws.plugins.filter.validate import (
    bucket_name_problems,
    config_problems,
    schedule_problems,
)

# The shipped local configuration, rendered (what preflight hands to config_problems).
GOOD = {
    "lmpspot_project": "lmpspot",
    "lmpspot_environment": "local",
    "lmpspot_owner": "polymer-lab",
    "lmpspot_extra_tags": {},
    "lmpspot_budget_monthly_usd": 500,
    "lmpspot_region": "us-east-2",
    "lmpspot_availability_zones": ["us-east-2a", "us-east-2b"],
    "lmpspot_local_aws": True,
    "lmpspot_aws_endpoint_url": "http://127.0.0.1:5000",
    "lmpspot_aws_environment": {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-2",
        "AWS_REGION": "us-east-2",
    },
    "network_vpc_cidr": "10.42.0.0/16",
    "network_public_subnet_cidrs": [],
    "network_private_subnet_cidrs": [],
    "network_ssh_allowed_cidrs": ["203.0.113.0/24"],
    "network_allow_ssh_from_anywhere": False,
    "network_ssh_min_prefix_ipv4": 16,
    "network_ssh_min_prefix_ipv6": 48,
    "network_interface_endpoints_enabled": True,
    "network_interface_endpoint_services": [
        "ecr.api",
        "ecr.dkr",
        "logs",
        "ecs",
        "ecs-agent",
        "ecs-telemetry",
    ],
    "network_nat_gateway_enabled": False,
    "compute_gpu_instance_types": ["g5.xlarge", "g6.xlarge", "p4d.24xlarge"],
    "compute_gpus_per_job": 1,
    "compute_max_vcpus": 384,
    "storage_bucket_name": "lmpspot-local-results",
    "storage_kms_key_id": "",
    "storage_tls_only_policy": False,  # the local inventory's value (moto mis-evaluates it)
    "storage_checkpoint_noncurrent_days": 3,
    "storage_abort_multipart_days": 1,
    "storage_results_tiering_days": 30,
    "storage_results_deep_archive_days": 0,
    "lmpspot_checkpoint_interval": 600,
    "lmpspot_checkpoint_retention": 3,
    "lmpspot_checkpoint_prefix": "checkpoints/",
    "lmpspot_results_prefix": "results/",
    "lmpspot_inputs_prefix": "inputs/",
    # What local mode changes (inventories/local): each its own setting.
    "lmpspot_job_executor": "local",
    "lmpspot_image_registry": "local",
    "lmpspot_aws_instances_reachable": False,
    "lmpspot_aws_tags_launch_templates": False,
}

# The shipped real-AWS configuration, with a real bucket name.
GOOD_AWS = {
    **GOOD,
    "lmpspot_environment": "prod",
    "lmpspot_local_aws": False,
    "lmpspot_aws_endpoint_url": "",
    "lmpspot_aws_environment": {"AWS_DEFAULT_REGION": "us-east-2", "AWS_REGION": "us-east-2"},
    "storage_bucket_name": "polymer-lab-lmpspot-results",
    "storage_tls_only_policy": True,
    # The shared defaults (roles/lmpspot_defaults).
    "lmpspot_job_executor": "batch",
    "lmpspot_image_registry": "ecr",
    "lmpspot_aws_instances_reachable": True,
    "lmpspot_aws_tags_launch_templates": True,
}


def with_(base: dict, **changes) -> dict:
    """``base`` with ``changes``; like the inventory, the AWS environment follows lmpspot_region."""
    cfg = copy.deepcopy(base)
    cfg.update(changes)
    if "lmpspot_region" in changes and "lmpspot_aws_environment" not in changes:
        for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            cfg["lmpspot_aws_environment"][key] = changes["lmpspot_region"]
    return cfg


def test_shipped_configs_have_no_problems():
    assert config_problems(GOOD) == []
    assert config_problems(GOOD_AWS) == []


def test_settings_files_cover_every_setting():
    assert set(validate.SETTINGS_FILES) == set(GOOD) | set(SCHEDULES) | set(MONITORING)


# (changes, setting the single problem must name, words the message must contain)
BROKEN = [
    ({"lmpspot_project": "LmpSpot"}, "lmpspot_project", "lowercase DNS label"),
    ({"lmpspot_project": "a" * 21}, "lmpspot_project", "1 to 20 characters"),
    ({"lmpspot_project": "-lmp"}, "lmpspot_project", "lowercase DNS label"),
    ({"lmpspot_project": "9lives"}, "lmpspot_project", "starting with a letter"),
    ({"lmpspot_project": ""}, "lmpspot_project", "lowercase DNS label"),
    ({"lmpspot_environment": "production1"}, "lmpspot_environment", "1 to 10"),
    ({"lmpspot_environment": "dev_1"}, "lmpspot_environment", "inner hyphens"),
    ({"lmpspot_owner": "a;b"}, "lmpspot_owner", "tag value"),
    ({"lmpspot_owner": "x" * 257}, "lmpspot_owner", "256"),
    ({"lmpspot_extra_tags": {"Project": "x"}}, "lmpspot_extra_tags", "may not set Project"),
    ({"lmpspot_extra_tags": {"managedby": "me"}}, "lmpspot_extra_tags", "may not set managedby"),
    ({"lmpspot_extra_tags": {"aws:cost": "1"}}, "lmpspot_extra_tags", "'aws:' prefix"),
    ({"lmpspot_extra_tags": ["CostCenter"]}, "lmpspot_extra_tags", "must be a mapping"),
    ({"lmpspot_extra_tags": {"k": "v" * 257}}, "lmpspot_extra_tags", "at most 256"),
    ({"lmpspot_extra_tags": {"k": ["a"]}}, "lmpspot_extra_tags", "must be a string"),
    ({"lmpspot_extra_tags": {f"t{i}": "v" for i in range(46)}}, "lmpspot_extra_tags", "keep at most 45"),
    ({"lmpspot_budget_monthly_usd": -1}, "lmpspot_budget_monthly_usd", ">= 0"),
    ({"lmpspot_budget_monthly_usd": "lots"}, "lmpspot_budget_monthly_usd", ">= 0"),
    ({"lmpspot_budget_monthly_usd": True}, "lmpspot_budget_monthly_usd", ">= 0"),
    ({"lmpspot_region": "us-east"}, "lmpspot_region", "not an AWS region name"),
    ({"lmpspot_region": "US-EAST-2"}, "lmpspot_region", "not an AWS region name"),
    ({"lmpspot_availability_zones": ["us-east-2a"]}, "lmpspot_availability_zones", "at least 2"),
    ({"lmpspot_availability_zones": "us-east-2a"}, "lmpspot_availability_zones", "must be a list"),
    (
        {"lmpspot_availability_zones": ["us-east-2a", "us-east-2a"]},
        "lmpspot_availability_zones",
        "more than once",
    ),
    (
        {"lmpspot_availability_zones": ["us-east-2a", "us-west-2b"]},
        "lmpspot_availability_zones",
        "not zone(s) of lmpspot_region",
    ),
    ({"network_vpc_cidr": "10.42.0.0"}, "network_vpc_cidr", "ADDRESS/PREFIX"),
    ({"network_vpc_cidr": "10.420.0.0/16"}, "network_vpc_cidr", "not a valid CIDR"),
    ({"network_vpc_cidr": "10.42.0.1/16"}, "network_vpc_cidr", "network address 10.42.0.0/16"),
    ({"network_vpc_cidr": "10.0.0.0/8"}, "network_vpc_cidr", "between /16 and /24"),
    ({"network_vpc_cidr": "10.42.0.0/25"}, "network_vpc_cidr", "between /16 and /24"),
    ({"network_vpc_cidr": "fd00::/56"}, "network_vpc_cidr", "IPv6"),
    ({"network_vpc_cidr": "127.0.0.0/16"}, "network_vpc_cidr", "special-purpose"),
    ({"network_vpc_cidr": "172.17.0.0/16"}, "network_vpc_cidr", "Docker bridge"),
    ({"network_vpc_cidr": "10.42.0.0/19"}, "network_vpc_cidr", "too small"),
    (
        {
            "network_public_subnet_cidrs": ["10.42.0.0/24"],
            "network_private_subnet_cidrs": ["10.42.16.0/20", "10.42.32.0/20"],
        },
        "network_public_subnet_cidrs",
        "one per zone",
    ),
    (
        {
            "network_public_subnet_cidrs": ["10.42.0.0/24", "10.43.1.0/24"],
            "network_private_subnet_cidrs": ["10.42.16.0/20", "10.42.32.0/20"],
        },
        "network_public_subnet_cidrs",
        "not inside network_vpc_cidr",
    ),
    (
        {
            "network_public_subnet_cidrs": ["10.42.0.0/24", "10.42.17.0/24"],
            "network_private_subnet_cidrs": ["10.42.16.0/20", "10.42.32.0/20"],
        },
        "network_public_subnet_cidrs and network_private_subnet_cidrs",
        "overlap",
    ),
    (
        {
            "network_public_subnet_cidrs": ["10.42.0.0/24", "10.42.1.0/29"],
            "network_private_subnet_cidrs": ["10.42.16.0/20", "10.42.32.0/20"],
        },
        "network_public_subnet_cidrs",
        "/16 to /28",
    ),
    ({"network_private_subnet_cidrs": "10.42.16.0/20"}, "network_private_subnet_cidrs", "must be a list"),
    ({"network_ssh_allowed_cidrs": ["0.0.0.0/0"]}, "network_ssh_allowed_cidrs", "whole internet"),
    ({"network_ssh_allowed_cidrs": ["::/0"]}, "network_ssh_allowed_cidrs", "whole internet"),
    ({"network_ssh_allowed_cidrs": ["203.0.113.5/24"]}, "network_ssh_allowed_cidrs", "203.0.113.5/32"),
    ({"network_ssh_allowed_cidrs": ["203.0.113.5"]}, "network_ssh_allowed_cidrs", "ADDRESS/PREFIX"),
    ({"network_ssh_allowed_cidrs": "203.0.113.0/24"}, "network_ssh_allowed_cidrs", "must be a list"),
    ({"network_allow_ssh_from_anywhere": "maybe"}, "network_allow_ssh_from_anywhere", "true or false"),
    (
        {
            "network_interface_endpoint_services": [
                "ecr.api",
                "ecr.dkr",
                "logs",
                "ecs",
                "ecs-agent",
                "ecs-telemetry",
                "s3",
            ]
        },
        "network_interface_endpoint_services",
        "gateway endpoint",
    ),
    (
        {
            "network_interface_endpoint_services": [
                "ecr.api",
                "ecr.dkr",
                "logs",
                "ecs",
                "ecs-agent",
                "ecs-telemetry",
                "ec3",
            ]
        },
        "network_interface_endpoint_services",
        "not a supported service",
    ),
    (
        {"network_interface_endpoint_services": ["ecr.api", "ecr.dkr", "logs", "ecs", "ecs-agent"]},
        "network_interface_endpoint_services",
        "lacks ecs-telemetry",
    ),
    (
        {"network_interface_endpoints_enabled": False},
        "network_interface_endpoints_enabled",
        "enable one of them",
    ),
    (
        {"network_interface_endpoint_services": [], "network_nat_gateway_enabled": True},
        "network_interface_endpoint_services",
        "is empty",
    ),
    ({"compute_gpu_instance_types": []}, "compute_gpu_instance_types", "non-empty list"),
    ({"compute_gpu_instance_types": ["g5xlarge"]}, "compute_gpu_instance_types", "FAMILY.SIZE"),
    (
        {"compute_gpu_instance_types": ["g5.xlarge", "g5.xlarge"]},
        "compute_gpu_instance_types",
        "more than once",
    ),
    ({"compute_gpus_per_job": 0}, "compute_gpus_per_job", "1, 2, 4 or 8"),
    ({"compute_gpus_per_job": 9}, "compute_gpus_per_job", "1, 2, 4 or 8"),
    ({"compute_gpus_per_job": 3}, "compute_gpus_per_job", "1, 2, 4 or 8"),
    ({"compute_gpus_per_job": "two"}, "compute_gpus_per_job", "1, 2, 4 or 8"),
    ({"compute_gpus_per_job": True}, "compute_gpus_per_job", "1, 2, 4 or 8"),
    ({"compute_max_vcpus": 0}, "compute_max_vcpus", "positive integer"),
    ({"storage_bucket_name": "CHANGE-ME-lmpspot-results"}, "storage_bucket_name", "placeholder"),
    ({"storage_bucket_name": "Lmpspot-Results"}, "storage_bucket_name", "only lowercase"),
    ({"storage_kms_key_id": "my-key"}, "storage_kms_key_id", "not a KMS key"),
    ({"storage_tls_only_policy": "maybe"}, "storage_tls_only_policy", "true or false"),
    ({"storage_checkpoint_noncurrent_days": 0}, "storage_checkpoint_noncurrent_days", ">= 1"),
    ({"storage_abort_multipart_days": -3}, "storage_abort_multipart_days", ">= 1"),
    ({"storage_results_tiering_days": -1}, "storage_results_tiering_days", ">= 0"),
    ({"storage_results_tiering_days": 2.5}, "storage_results_tiering_days", "integer"),
    ({"storage_results_deep_archive_days": 30}, "storage_results_deep_archive_days", "+ 90 (120)"),
    ({"storage_results_deep_archive_days": 119}, "storage_results_deep_archive_days", "+ 90 (120)"),
    ({"lmpspot_checkpoint_interval": 59}, "lmpspot_checkpoint_interval", ">= 60"),
    ({"lmpspot_checkpoint_interval": "often"}, "lmpspot_checkpoint_interval", ">= 60"),
    ({"lmpspot_checkpoint_interval": 600.5}, "lmpspot_checkpoint_interval", "integer"),
    ({"lmpspot_checkpoint_retention": 0}, "lmpspot_checkpoint_retention", ">= 1"),
    ({"lmpspot_checkpoint_prefix": "checkpoints"}, "lmpspot_checkpoint_prefix", "ending in '/'"),
    ({"lmpspot_checkpoint_prefix": "/checkpoints/"}, "lmpspot_checkpoint_prefix", "relative"),
    (
        {"lmpspot_inputs_prefix": "results/inputs/"},
        "lmpspot_results_prefix and lmpspot_inputs_prefix",
        "nest",
    ),
    ({"lmpspot_local_aws": "sometimes"}, "lmpspot_local_aws", "true or false"),
    ({"lmpspot_aws_endpoint_url": "http://0.0.0.0:5000"}, "lmpspot_aws_endpoint_url", "127.0.0.1"),
    ({"lmpspot_aws_endpoint_url": "http://10.1.2.3:5000"}, "lmpspot_aws_endpoint_url", "127.0.0.1"),
    (
        {
            "lmpspot_aws_environment": {
                **GOOD["lmpspot_aws_environment"],
                "AWS_ENDPOINT_URL": "http://example.com:5000",
            }
        },
        "lmpspot_aws_environment.AWS_ENDPOINT_URL",
        "never be reachable",
    ),
    (
        {"lmpspot_aws_environment": {**GOOD["lmpspot_aws_environment"], "AWS_REGION": "eu-west-1"}},
        "lmpspot_aws_environment.AWS_REGION",
        "differs from lmpspot_region",
    ),
    ({"lmpspot_aws_environment": "AWS_REGION=us-east-2"}, "lmpspot_aws_environment", "must be a mapping"),
]


@pytest.mark.parametrize(("changes", "setting", "words"), BROKEN, ids=[b[1] + ":" + b[2] for b in BROKEN])
def test_each_broken_setting_gives_one_problem_naming_it(changes, setting, words):
    problems = config_problems(with_(GOOD, **changes))
    assert len(problems) == 1, problems
    assert problems[0].startswith(setting + ":"), problems
    assert words in problems[0], problems


@pytest.mark.parametrize(
    ("changes", "setting", "words"),
    [
        ({"lmpspot_aws_endpoint_url": "http://s3.example.com"}, "lmpspot_aws_endpoint_url", "https://"),
        (
            {"lmpspot_aws_environment": {"AWS_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "AKIA..."}},
            "lmpspot_aws_environment",
            "never put AWS keys",
        ),
        ({"storage_bucket_name": "CHANGE-ME-lmpspot-results"}, "storage_bucket_name", "placeholder"),
        ({"storage_tls_only_policy": False}, "storage_tls_only_policy", "only allowed against the local AWS"),
    ],
)
def test_real_aws_mode_rules(changes, setting, words):
    problems = config_problems(with_(GOOD_AWS, **changes))
    assert len(problems) == 1, problems
    assert problems[0].startswith(setting + ":") and words in problems[0], problems


@pytest.mark.parametrize(
    "changes",
    [
        {"network_ssh_allowed_cidrs": ["0.0.0.0/0"], "network_allow_ssh_from_anywhere": True},
        {"network_ssh_allowed_cidrs": ["2001:db8::/48", "198.51.100.7/32"]},
        {
            "network_public_subnet_cidrs": ["10.42.0.0/24", "10.42.1.0/24"],
            "network_private_subnet_cidrs": ["10.42.16.0/20", "10.42.32.0/20"],
        },
        {
            "network_vpc_cidr": "10.42.0.0/24",
            "network_public_subnet_cidrs": ["10.42.0.0/28", "10.42.0.16/28"],
            "network_private_subnet_cidrs": ["10.42.0.128/26", "10.42.0.192/26"],
        },
        {"network_vpc_cidr": "10.42.0.0/18"},
        {"network_interface_endpoints_enabled": False, "network_nat_gateway_enabled": True},
        {"lmpspot_extra_tags": {"CostCenter": "1234", "Owner": "someone-else"}},
        {"lmpspot_budget_monthly_usd": 0},
        {"lmpspot_budget_monthly_usd": 99.5},
        {"storage_results_tiering_days": 0},
        {"storage_results_deep_archive_days": 180},
        {"storage_results_deep_archive_days": 120},
        {"storage_kms_key_id": "alias/lmpspot"},
        {"storage_kms_key_id": "1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"storage_kms_key_id": "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"lmpspot_checkpoint_interval": "600"},  # -e k=v gives strings
        {"compute_gpus_per_job": 8},
        {"network_ssh_allowed_cidrs": []},  # port 22 closed: Session Manager only (docs/ACCESS.md)
        {
            "lmpspot_region": "us-gov-west-1",
            "lmpspot_availability_zones": ["us-gov-west-1a", "us-gov-west-1b"],
            "lmpspot_aws_environment": {},
            "lmpspot_local_aws": False,
            "lmpspot_aws_endpoint_url": "",
            "storage_tls_only_policy": True,
            "lmpspot_job_executor": "batch",
            "lmpspot_image_registry": "ecr",
        },
        {
            "lmpspot_aws_endpoint_url": "http://localhost:5000",
            "lmpspot_aws_environment": {"AWS_ENDPOINT_URL": "http://[::1]:5000"},
        },
        {"lmpspot_project": "a" * 20, "lmpspot_environment": "production"},
    ],
)
def test_acceptable_variations(changes):
    assert config_problems(with_(GOOD, **changes)) == []


# A local-mode setting that cannot work with the AWS lmpspot_local_aws names:
# (base, setting, value, words the one problem must contain).
MIXES = [
    (GOOD_AWS, "lmpspot_job_executor", "local", "both writing the same checkpoints; set it to batch"),
    (GOOD_AWS, "lmpspot_image_registry", "local", "cannot pull from; set it to ecr"),
    (GOOD, "lmpspot_job_executor", "batch", "nothing would run; set it to local"),
    (GOOD, "lmpspot_image_registry", "ecr", "no data plane"),
    (GOOD, "lmpspot_aws_instances_reachable", True, "records, not machines"),
    (GOOD, "lmpspot_aws_instances_reachable", "yes", "set it to false"),
    (GOOD, "lmpspot_aws_tags_launch_templates", True, "InvalidID"),
]


@pytest.mark.parametrize(("base", "setting", "value", "words"), MIXES, ids=[f"{m[1]}={m[2]}" for m in MIXES])
def test_local_mode_settings_must_match_the_aws_they_run_against(base, setting, value, words):
    problems = config_problems(with_(base, **{setting: value}))
    assert len(problems) == 1, problems
    target = "the local AWS" if base is GOOD else "a real account"
    given = str(value).lower() if isinstance(value, bool) else repr(value)
    assert problems[0].startswith(f"{setting}: {given} cannot work against {target}"), problems
    assert words in problems[0] and "group_vars/all/" in problems[0], problems


@pytest.mark.parametrize(
    "changes",
    [
        # A real account with instances unreachable or launch templates untagged still works.
        {"lmpspot_aws_instances_reachable": False},
        {"lmpspot_aws_tags_launch_templates": False},
        # A value outside the choices is the argument spec's to refuse, not the filter's.
        {"lmpspot_job_executor": "podman", "lmpspot_image_registry": "quay"},
    ],
)
def test_local_mode_settings_real_aws_accepts(changes):
    assert config_problems(with_(GOOD_AWS, **changes)) == []


def test_all_problems_are_reported_at_once():
    cfg = with_(
        GOOD,
        network_vpc_cidr="10.42.0.0/33",
        storage_bucket_name="CHANGE-ME",
        lmpspot_checkpoint_interval=5,
        network_ssh_allowed_cidrs=["0.0.0.0/0"],
    )
    settings = [p.split(":")[0] for p in config_problems(cfg)]
    assert settings == [
        "network_vpc_cidr",
        "network_ssh_allowed_cidrs",
        "storage_bucket_name",
        "lmpspot_checkpoint_interval",
    ]


def test_missing_settings_are_left_to_the_argument_spec():
    assert config_problems({}) == []


@pytest.mark.parametrize("bad", [None, "cfg", ["a"], 3])
def test_config_problems_rejects_non_mappings(bad):
    with pytest.raises(AnsibleFilterError, match="mapping of setting name"):
        config_problems(bad)


BUCKETS = [
    ("lmpspot-local-results", None),
    ("abc", None),
    ("a" * 63, None),
    ("my.bucket.name", None),
    ("0lab-results", None),
    ("ab", "3 to 63"),
    ("a" * 64, "3 to 63"),
    ("Lab-Results", "only lowercase"),
    ("lab_results", "only lowercase"),
    ("-lab", "begin and end"),
    ("lab-", "begin and end"),
    ("lab..results", "two adjacent dots"),
    ("192.168.5.4", "IP address"),
    ("xn--lab", "'xn--'"),
    ("sthree-lab", "'sthree-'"),
    ("amzn-s3-demo-lab", "'amzn-s3-demo-'"),
    ("lab-s3alias", "'-s3alias'"),
    ("lab--ol-s3", "'--ol-s3'"),
    ("lab.mrap", "'.mrap'"),
    ("lab--x-s3", "'--x-s3'"),
    ("change-me-results", "placeholder"),
    ("CHANGE-ME", "placeholder"),
    (None, "must be a string"),
    (42, "must be a string"),
]


@pytest.mark.parametrize(("name", "words"), BUCKETS)
def test_bucket_names(name, words):
    problems = bucket_name_problems(name)
    if words is None:
        assert problems == []
    else:
        assert problems, name
        assert all(p.startswith("storage_bucket_name:") for p in problems)
        assert any(words in p for p in problems), problems


def test_bucket_name_setting_is_named():
    assert bucket_name_problems("X", "my_bucket")[0].startswith("my_bucket:")


def gpu_type(name, count, maker="NVIDIA", vcpus=4, classes=("on-demand", "spot")):
    gpus = [{"manufacturer": maker, "name": "X", "count": count, "memory_mib": 1024}] if count else []
    return {
        "instance_type": name,
        "vcpus": vcpus,
        "gpus": gpus,
        "gpu_count": count,
        "supported_usage_classes": list(classes),
    }


INFO = {
    "instance_types": [
        gpu_type("g5.xlarge", 1),
        gpu_type("p4d.24xlarge", 8, vcpus=96),
        gpu_type("m5.large", 0, vcpus=2),
        gpu_type("g4ad.xlarge", 1, maker="AMD"),
        gpu_type("p9.ondemand", 4, classes=("on-demand",)),
    ],
    "missing": ["zz9.huge"],
}

TYPES = [
    (["g5.xlarge", "p4d.24xlarge"], 1, 384, []),
    (["g5.xlarge", "p4d.24xlarge"], 8, 384, []),
    (["zz9.huge"], 1, 384, ["compute_gpu_instance_types: zz9.huge not offered"]),
    (["g5.xlarge", "m5.large"], 1, 384, ["compute_gpu_instance_types: m5.large has no GPU"]),
    (["g4ad.xlarge", "g5.xlarge"], 1, 384, ["compute_gpu_instance_types: g4ad.xlarge has AMD GPUs"]),
    (["p9.ondemand", "g5.xlarge"], 1, 384, ["compute_gpu_instance_types: p9.ondemand cannot run as spot"]),
    (["g5.xlarge"], 4, 384, ["compute_gpus_per_job: 4 GPUs per job but no type"]),
    (["p4d.24xlarge"], 1, 64, ["compute_max_vcpus: 64 is below the 96 vCPUs"]),
    (["g5.xlarge", "p4d.24xlarge"], 8, 64, ["compute_max_vcpus: 64 is below the 96 vCPUs"]),
    (["g5.xlarge"], 1, None, []),
    (["g5.xlarge"], 99, 384, []),  # the range itself is config_problems' business
]


@pytest.mark.parametrize(("requested", "gpus", "vcpus", "starts"), TYPES)
def test_instance_type_problems(requested, gpus, vcpus, starts):
    problems = instance_type_problems(INFO, requested, gpus, vcpus)
    assert len(problems) == len(starts), problems
    for problem, start in zip(problems, starts, strict=True):
        assert problem.startswith(start), problems


@pytest.mark.parametrize(
    ("info", "requested", "match"),
    [
        ({"missing": []}, ["g5.xlarge"], "ec2_instance_type_info"),
        ("g5.xlarge", ["g5.xlarge"], "ec2_instance_type_info"),
        (INFO, "g5.xlarge", "list of instance type names"),
    ],
)
def test_instance_type_problems_bad_input(info, requested, match):
    with pytest.raises(AnsibleFilterError, match=match):
        instance_type_problems(info, requested, 1)


ZONES = [
    {"zone_name": "us-east-2a", "state": "available"},
    {"zone_name": "us-east-2b", "state": "available"},
    {"zone_name": "us-east-2c", "state": "impaired"},
]


@pytest.mark.parametrize(
    ("azs", "words"),
    [
        (["us-east-2a", "us-east-2b"], None),
        (["us-east-2a", "us-east-2q"], "us-east-2q not found"),
        (["us-east-2a", "us-east-2c"], "us-east-2c not available"),
        ("us-east-2a", None),  # wrong shape: config_problems reports it
    ],
)
def test_availability_zone_problems(azs, words):
    problems = availability_zone_problems(azs, ZONES)
    if words is None:
        assert problems == []
    else:
        assert len(problems) == 1 and words in problems[0]
        assert problems[0].startswith("lmpspot_availability_zones:")


def test_availability_zone_problems_bad_input():
    with pytest.raises(AnsibleFilterError, match="aws_az_info"):
        availability_zone_problems(["us-east-2a"], {"zone_name": "us-east-2a"})


def test_filter_map():
    assert set(validate.FilterModule().filters()) == {
        "config_problems",
        "bucket_name_problems",
        "schedule_problems",
    }
    assert set(offerings.FilterModule().filters()) == {
        "instance_type_problems",
        "availability_zone_problems",
    }


# --------------------------------------------------------------------------- schedules

SCHEDULES = {
    "bastion_instance_schedule_enabled": False,
    "bastion_instance_schedule_timezone": "UTC",
    "bastion_instance_schedule_start_time": "07:00",
    "bastion_instance_schedule_stop_time": "19:00",
    "bastion_instance_schedule_weekdays": ["MON", "TUE", "WED", "THU", "FRI"],
    "night_window_enabled": False,
    "night_window_timezone": "Europe/Berlin",
    "night_window_open_time": "20:00",
    "night_window_close_time": "06:00",
    "night_window_weekdays": ["MON", "TUE", "WED", "THU", "FRI", "SUN"],
}


def test_shipped_schedules_are_fine():
    assert schedule_problems(SCHEDULES) == []
    assert config_problems({**GOOD, **SCHEDULES}) == []
    assert schedule_problems({}) == []  # nothing set: nothing to check


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("bastion_instance_schedule_enabled", "maybe", "true or false"),
        ("bastion_instance_schedule_timezone", "Mars/Olympus", "IANA time zone"),
        ("bastion_instance_schedule_timezone", "", "IANA time zone"),
        ("bastion_instance_schedule_start_time", "7:00", "HH:MM"),
        ("bastion_instance_schedule_stop_time", 1140, "quote it"),  # YAML 1.1 read 19:00 as 1140
        ("bastion_instance_schedule_stop_time", "07:00", "different times"),
        ("bastion_instance_schedule_weekdays", [], "non-empty list"),
        ("bastion_instance_schedule_weekdays", "MON-FRI", "non-empty list"),
        ("bastion_instance_schedule_weekdays", ["MON", "FUN"], "'FUN' is not a day"),
        ("bastion_instance_schedule_weekdays", ["MON", "mon"], "twice"),
        ("night_window_open_time", "25:00", "HH:MM"),
        ("night_window_close_time", "20:00", "different times"),
        ("night_window_timezone", "CEST", "IANA time zone"),
        ("night_window_enabled", "sometimes", "true or false"),
    ],
)
def test_schedule_problems(setting, value, words):
    problems = schedule_problems({**SCHEDULES, setting: value})
    assert len(problems) == 1, problems
    assert words in problems[0]
    assert problems[0].startswith(setting.rsplit("_", 2)[0] if "different" in words else setting)
    # config_problems reports the same problem
    assert problems[0] in config_problems({**GOOD, **SCHEDULES, setting: value})


def test_schedule_settings_name_their_file():
    assert validate._where("night_window_open_time").endswith("schedule.yml")
    assert validate._where("bastion_instance_schedule_weekdays").endswith("schedule.yml")


def test_schedule_problems_bad_input():
    with pytest.raises(AnsibleFilterError, match="mapping"):
        schedule_problems(["night_window_enabled"])


# --------------------------------------------------------------------------- monitoring

MONITORING = {
    "monitoring_subscriptions": [
        {"protocol": "email", "endpoint": "md-group@example.org"},
        {"protocol": "https", "endpoint": "https://hooks.example.org/lmpspot"},
        {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-2:123456789012:lmpspot-alerts"},
    ],
    "monitoring_checkpoint_age_factor": 2,
    "monitoring_interruption_threshold": 5,
    "monitoring_interruption_period_s": 3600,
    "monitoring_log_retention_days": 30,
    "monitoring_sns_kms_key_id": "",
    "monitoring_budget_compare_subscribers": True,
    "monitoring_delete_kms_key": True,
}


def test_good_monitoring_settings():
    assert config_problems({**GOOD, **MONITORING}) == []
    assert config_problems({**GOOD_AWS, **MONITORING}) == []


@pytest.mark.parametrize(
    ("changes", "setting", "words"),
    [
        ({"monitoring_subscriptions": {"email": "a@b.c"}}, "monitoring_subscriptions", "must be a list"),
        (
            {"monitoring_subscriptions": [{"protocol": "sms", "endpoint": "+4912"}]},
            "monitoring_subscriptions[0]",
            "email, https or sqs",
        ),
        (
            {"monitoring_subscriptions": [{"protocol": "email", "endpoint": "nobody"}]},
            "monitoring_subscriptions[0]",
            "an e-mail address",
        ),
        (
            {"monitoring_subscriptions": [{"protocol": "https", "endpoint": "http://x.org"}]},
            "monitoring_subscriptions[0]",
            "https:// URL",
        ),
        (
            {"monitoring_subscriptions": [{"protocol": "sqs", "endpoint": "lmpspot-alerts"}]},
            "monitoring_subscriptions[0]",
            "SQS queue ARN",
        ),
        (
            {"monitoring_subscriptions": [{"protocol": "email", "endpoint": "a@b.c", "x": 1}]},
            "monitoring_subscriptions[0]",
            "must be a mapping",
        ),
        ({"monitoring_checkpoint_age_factor": 0.5}, "monitoring_checkpoint_age_factor", ">= 1"),
        ({"monitoring_checkpoint_age_factor": "two"}, "monitoring_checkpoint_age_factor", ">= 1"),
        ({"monitoring_interruption_threshold": 0}, "monitoring_interruption_threshold", ">= 1"),
        ({"monitoring_interruption_period_s": 90}, "monitoring_interruption_period_s", "multiple of 60"),
        ({"monitoring_interruption_period_s": 172800}, "monitoring_interruption_period_s", "86400"),
        ({"monitoring_log_retention_days": 10}, "monitoring_log_retention_days", "one of 1, 3, 5"),
        ({"monitoring_sns_kms_key_id": "alias/aws/sns"}, "monitoring_sns_kms_key_id", "customer-managed"),
    ],
)
def test_each_broken_monitoring_setting(changes, setting, words):
    problems = config_problems({**GOOD, **MONITORING, **changes})
    assert len(problems) == 1, problems
    assert problems[0].startswith(setting + ":") and words in problems[0], problems


@pytest.mark.parametrize("name", ["monitoring_budget_compare_subscribers", "monitoring_delete_kms_key"])
def test_moto_workarounds_only_against_the_local_aws(name):
    assert config_problems({**GOOD, **MONITORING, name: False}) == []  # the local inventory
    problems = config_problems({**GOOD_AWS, **MONITORING, name: False})
    assert len(problems) == 1 and problems[0].startswith(name + ":") and "real account" in problems[0], (
        problems
    )
