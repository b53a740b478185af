# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Size a Batch job's vCPU and memory from the GPU instance shapes it may land on."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: job_resources
short_description: vCPU and memory for a GPU job so that N such jobs pack one instance
description:
  - Given the instance shapes a compute environment may launch and the GPUs one job
    asks for, returns the vCPUs and memory (MiB) per job such that
    C(gpus / gpus_per_job) jobs fit on every listed type that can host the job at all.
  - Memory leaves a fraction (default 5%, the AWS Batch recommendation) plus the 32 MiB
    the Batch AMI reserves for the ECS agent, before dividing.
  - Types with fewer GPUs than the job needs are left out (and listed in C(excluded)).
positional: gpus_per_job
options:
  _input:
    description:
      - A list of instance shapes. Each is either an entry of EC2 DescribeInstanceTypes
        (C(InstanceType), C(VCpuInfo), C(MemoryInfo), C(GpuInfo)) or a flat mapping with
        C(instance_type), C(vcpus), C(memory_mib), C(gpu_count).
    type: list
    required: true
  gpus_per_job: {description: GPUs one job uses (1-8)., type: int, required: true}
  reserve_fraction: {description: Memory fraction kept for the system., type: float, default: 0.05}
  reserved_mib: {description: Memory the Batch AMI reserves for the ECS agent., type: int, default: 32}
"""

EXAMPLES = r"""
resources: "{{ shapes | lmpspot.aws.job_resources(1) }}"
# p4d.24xlarge (96 vCPU, 1152 GiB, 8 A100) -> {vcpus: 12, memory_mib: 140077, gpus: 1, ...}
"""

RETURN = r"""
_value:
  description: vcpus, memory_mib, gpus per job; jobs_per_instance per type; excluded types.
  type: dict
"""


def _shape(item) -> dict:
    if not isinstance(item, dict):
        raise AnsibleFilterError(f"each instance shape must be a mapping, got {type(item).__name__}")
    if "InstanceType" in item:
        gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
        return {
            "instance_type": item["InstanceType"],
            "vcpus": int(item["VCpuInfo"]["DefaultVCpus"]),
            "memory_mib": int(item["MemoryInfo"]["SizeInMiB"]),
            "gpu_count": sum(int(g.get("Count", 0)) for g in gpus if g.get("Manufacturer") == "NVIDIA"),
        }
    missing = [k for k in ("instance_type", "vcpus", "memory_mib", "gpu_count") if k not in item]
    if missing:
        raise AnsibleFilterError(f"instance shape {item!r} lacks {', '.join(missing)}")
    return {
        "instance_type": str(item["instance_type"]),
        "vcpus": int(item["vcpus"]),
        "memory_mib": int(item["memory_mib"]),
        "gpu_count": int(item["gpu_count"]),
    }


def job_resources(shapes, gpus_per_job, reserve_fraction=0.05, reserved_mib=32) -> dict:
    """Per-job vCPU/memory so that gpus // gpus_per_job jobs pack every eligible type."""
    if not isinstance(shapes, list) or not shapes:
        raise AnsibleFilterError("job_resources needs a non-empty list of instance shapes")
    if isinstance(gpus_per_job, bool) or not isinstance(gpus_per_job, int) or not 1 <= gpus_per_job <= 8:
        raise AnsibleFilterError(f"compute_gpus_per_job must be an integer from 1 to 8, got {gpus_per_job!r}")
    if not 0 <= float(reserve_fraction) < 0.5:
        raise AnsibleFilterError(f"reserve_fraction must be in [0, 0.5), got {reserve_fraction!r}")
    eligible, excluded, per_type = [], [], {}
    for shape in map(_shape, shapes):
        if shape["gpu_count"] < gpus_per_job:
            excluded.append(shape["instance_type"])
            continue
        if shape["gpu_count"] % gpus_per_job:
            raise AnsibleFilterError(
                f"{shape['instance_type']} has {shape['gpu_count']} GPUs, not a multiple of "
                f"compute_gpus_per_job={gpus_per_job}: GPUs would sit idle; pick a divisor of "
                f"{shape['gpu_count']} or drop the type"
            )
        slots = shape["gpu_count"] // gpus_per_job
        usable = int(shape["memory_mib"] * (1 - float(reserve_fraction))) - int(reserved_mib)
        eligible.append((shape["vcpus"] // slots, usable // slots))
        per_type[shape["instance_type"]] = slots
    if not eligible:
        raise AnsibleFilterError(
            f"no instance type in compute_gpu_instance_types has {gpus_per_job} NVIDIA GPUs "
            f"(too small: {', '.join(excluded)}); add a larger type or lower compute_gpus_per_job"
        )
    return {
        "vcpus": min(v for v, _ in eligible),
        "memory_mib": min(m for _, m in eligible),
        "gpus": gpus_per_job,
        "jobs_per_instance": per_type,
        "excluded": excluded,
    }


class FilterModule:
    def filters(self):
        return {"job_resources": job_resources}
