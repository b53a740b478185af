"""Unit tests for the lmpspot.aws naming filters (project_tags, resource_name, plan_subnets)."""

from __future__ import annotations

import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter import naming
from ansible_collections.lmpspot.aws.plugins.filter.naming import plan_subnets, project_tags, resource_name


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("lmpspot", "local", "polymer-lab", {}),
            {"Project": "lmpspot", "Environment": "local", "ManagedBy": "lmpspot", "Owner": "polymer-lab"},
        ),
        (("lmpspot", "prod"), {"Project": "lmpspot", "Environment": "prod", "ManagedBy": "lmpspot"}),
        (
            ("lmpspot", "prod", "", None),
            {"Project": "lmpspot", "Environment": "prod", "ManagedBy": "lmpspot"},
        ),
        (
            ("lmpspot", "prod", "lab", {"CostCenter": 1234}),
            {
                "Project": "lmpspot",
                "Environment": "prod",
                "ManagedBy": "lmpspot",
                "Owner": "lab",
                "CostCenter": "1234",
            },
        ),
        # Owner is not reserved: an extra tag may replace it.
        (
            ("lmpspot", "prod", "lab", {"Owner": "ops"}),
            {"Project": "lmpspot", "Environment": "prod", "ManagedBy": "lmpspot", "Owner": "ops"},
        ),
    ],
)
def test_project_tags(args, expected):
    assert project_tags(*args) == expected


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", "local"), "lmpspot_project must be a non-empty string"),
        ((None, "local"), "lmpspot_project must be a non-empty string"),
        (("lmpspot", ""), "lmpspot_environment must be a non-empty string"),
        (("lmpspot", 3), "lmpspot_environment must be a non-empty string"),
        (("lmpspot", "local", "", ["CostCenter"]), "lmpspot_extra_tags must be a mapping"),
        (("lmpspot", "local", "", {"Project": "x"}), "may not set Project"),
        # Tag keys are case-sensitive in AWS, but "project" beside "Project" confuses people
        # and tag scans alike: refused in any case.
        (("lmpspot", "local", "", {"project": "x"}), "may not set project"),
        (
            ("lmpspot", "local", "", {"ManagedBy": "x", "Environment": "y"}),
            "may not set Environment, ManagedBy",
        ),
    ],
)
def test_project_tags_bad_input(args, match):
    with pytest.raises(AnsibleFilterError, match=match):
        project_tags(*args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("lmpspot", "local", "vpc"), "lmpspot-local-vpc"),
        (("lmpspot", "local"), "lmpspot-local"),
        (("lmpspot", "prod", "public", "us-east-2a"), "lmpspot-prod-public-us-east-2a"),
        (("lmp", "dev", "queue", 1), "lmp-dev-queue-1"),
    ],
)
def test_resource_name(args, expected):
    assert resource_name(*args) == expected


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", "local", "vpc"), "lmpspot_project must be a non-empty string"),
        (("lmpspot", None, "vpc"), "lmpspot_environment must be a non-empty string"),
        (("LmpSpot", "local", "vpc"), "'LmpSpot' must be lowercase"),
        (("lmpspot", "local", "ecr.api"), "'ecr.api' must be lowercase"),
        (("lmpspot", "local", "-vpc"), "'-vpc' must be lowercase"),
        (("lmpspot", "local", "vpc-"), "'vpc-' must be lowercase"),
        (("lmpspot", "local", "my_vpc"), "'my_vpc' must be lowercase"),
        (("lmpspot", "local", ""), "'' must be lowercase"),
    ],
)
def test_resource_name_bad_input(args, match):
    with pytest.raises(AnsibleFilterError, match=match):
        resource_name(*args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("10.42.0.0/16", 2),
            {"public": ["10.42.0.0/24", "10.42.1.0/24"], "private": ["10.42.16.0/20", "10.42.32.0/20"]},
        ),
        (
            ("10.42.0.0/16", 3),
            {
                "public": ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"],
                "private": ["10.42.16.0/20", "10.42.32.0/20", "10.42.48.0/20"],
            },
        ),
        (
            ("10.42.0.0/18", 3),
            {
                "public": ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"],
                "private": ["10.42.16.0/20", "10.42.32.0/20", "10.42.48.0/20"],
            },
        ),
        (("10.0.0.0/8", 1, 26, 22), {"public": ["10.0.0.0/26"], "private": ["10.0.4.0/22"]}),
    ],
)
def test_plan_subnets(args, expected):
    plan = plan_subnets(*args)
    assert plan == expected
    vpc = ipaddress.ip_network(args[0])
    nets = [ipaddress.ip_network(n) for n in plan["public"] + plan["private"]]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("10.42.0.0/33", 2), "not a valid CIDR"),
        (("10.42.0.1/16", 2), "not a valid CIDR"),
        (("banana", 2), "not a valid CIDR"),
        (("10.42.0.0/16", 0), "positive integer"),
        (("10.42.0.0/16", "2"), "positive integer"),
        (("10.42.0.0/16", True), "positive integer"),
        (("10.42.0.0/20", 2), r"need VPC prefix \(20\) < private prefix \(20\)"),
        (("10.42.0.0/16", 2, 20, 24), "need VPC prefix"),
        (("10.42.0.0/19", 2), "too small for 2 private /20 subnets"),
        (("10.42.0.0/18", 4), "too small for 4 private /20"),
        (("10.42.0.0/16", 5, 22, 20), "not enough /22 blocks for 5 public subnets"),
    ],
)
def test_plan_subnets_bad_input(args, match):
    with pytest.raises(AnsibleFilterError, match=match):
        plan_subnets(*args)


def test_filter_map():
    assert set(naming.FilterModule().filters()) == {"project_tags", "resource_name", "plan_subnets"}


@pytest.mark.parametrize(
    "az_count",
    [2, 3, 4, 6],
)
def test_plan_subnets_suggests_a_vpc_that_fits(az_count):
    with pytest.raises(AnsibleFilterError) as err:
        plan_subnets("10.42.0.0/19", az_count)
    suggested = int(str(err.value).split("use a /")[1].split()[0])
    plan_subnets(f"10.42.0.0/{suggested}", az_count)  # must not raise
