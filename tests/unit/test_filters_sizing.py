"""job_resources: per-job vCPU/memory against real instance shapes.

Shapes come from moto's copy of EC2 DescribeInstanceTypes (the same data AWS serves),
so the table below checks the arithmetic on real numbers, not invented ones.
"""

from __future__ import annotations

import boto3
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter.sizing import job_resources
from moto import mock_aws

TYPES = ["g5.xlarge", "g5.12xlarge", "g5.48xlarge", "g6.xlarge", "p4d.24xlarge", "p5.48xlarge", "m5.large"]


@pytest.fixture(scope="module")
def shapes() -> dict[str, dict]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-2")
        found = ec2.describe_instance_types(InstanceTypes=TYPES)["InstanceTypes"]
    return {s["InstanceType"]: s for s in found}


@pytest.mark.parametrize(
    ("types", "gpus", "vcpus", "memory_mib", "per_instance"),
    [
        # p4d.24xlarge: 96 vCPU, 1,179,648 MiB, 8 x A100 -> 8 one-GPU jobs
        (["p4d.24xlarge"], 1, 12, (int(1179648 * 0.95) - 32) // 8, {"p4d.24xlarge": 8}),
        # whole instance: one 8-GPU job takes it all
        (["p4d.24xlarge"], 8, 96, int(1179648 * 0.95) - 32, {"p4d.24xlarge": 1}),
        (["p4d.24xlarge"], 2, 24, (int(1179648 * 0.95) - 32) // 4, {"p4d.24xlarge": 4}),
        # a job must fit the smallest eligible type: g5.xlarge bounds it
        (
            ["g5.xlarge", "p4d.24xlarge"],
            1,
            4,
            int(16384 * 0.95) - 32,
            {"g5.xlarge": 1, "p4d.24xlarge": 8},
        ),
        (["g5.12xlarge"], 1, 12, (int(196608 * 0.95) - 32) // 4, {"g5.12xlarge": 4}),
        (
            ["p5.48xlarge", "g5.48xlarge"],
            8,
            192,
            int(786432 * 0.95) - 32,
            {"p5.48xlarge": 1, "g5.48xlarge": 1},
        ),
    ],
)
def test_sizes(shapes, types, gpus, vcpus, memory_mib, per_instance):
    res = job_resources([shapes[t] for t in types], gpus)
    assert res["vcpus"] == vcpus
    assert res["memory_mib"] == memory_mib
    assert res["gpus"] == gpus
    assert res["jobs_per_instance"] == per_instance
    # the packing claim itself: N jobs fit on each type
    for t in types:
        s = shapes[t]
        n = per_instance[t]
        assert n * res["vcpus"] <= s["VCpuInfo"]["DefaultVCpus"]
        assert n * res["memory_mib"] <= s["MemoryInfo"]["SizeInMiB"] * 0.95


def test_small_types_excluded(shapes):
    res = job_resources([shapes["g5.xlarge"], shapes["p4d.24xlarge"]], 8)
    assert res["excluded"] == ["g5.xlarge"]
    assert res["jobs_per_instance"] == {"p4d.24xlarge": 1}


def test_flat_shape_form():
    res = job_resources([{"instance_type": "x", "vcpus": 8, "memory_mib": 32768, "gpu_count": 2}], 1)
    assert res == {
        "vcpus": 4,
        "memory_mib": (int(32768 * 0.95) - 32) // 2,
        "gpus": 1,
        "jobs_per_instance": {"x": 2},
        "excluded": [],
    }


@pytest.mark.parametrize(
    ("shapes_in", "gpus", "message"),
    [
        ([], 1, "non-empty list"),
        ("p4d", 1, "non-empty list"),
        ([{"instance_type": "x", "vcpus": 4, "memory_mib": 1, "gpu_count": 1}], 0, "from 1 to 8"),
        ([{"instance_type": "x", "vcpus": 4, "memory_mib": 1, "gpu_count": 1}], 9, "from 1 to 8"),
        ([{"instance_type": "x", "vcpus": 4, "memory_mib": 1, "gpu_count": 1}], True, "from 1 to 8"),
        ([{"instance_type": "x", "vcpus": 4}], 1, "lacks memory_mib, gpu_count"),
        (["g5"], 1, "must be a mapping"),
        ([{"instance_type": "x", "vcpus": 4, "memory_mib": 1, "gpu_count": 4}], 3, "not a multiple"),
        ([{"instance_type": "m", "vcpus": 4, "memory_mib": 1, "gpu_count": 0}], 1, "no instance type"),
    ],
)
def test_bad_inputs(shapes_in, gpus, message):
    with pytest.raises(AnsibleFilterError, match=message):
        job_resources(shapes_in, gpus)


def test_cpu_only_type_has_no_gpus(shapes):
    with pytest.raises(AnsibleFilterError, match="too small: m5.large"):
        job_resources([shapes["m5.large"]], 1)
