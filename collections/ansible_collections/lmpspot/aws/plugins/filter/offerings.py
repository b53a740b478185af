# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the configuration against what the region offers (preflight, with AWS facts):
the GPU instance types (``ec2_instance_type_info``) and the availability zones
(``amazon.aws.aws_az_info``).  Pure functions; each returns problem messages that name the
setting and the fix, and raises ``AnsibleFilterError`` only on input of the wrong shape."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.module_utils.config_common import (
    MAX_GPUS_PER_JOB,
    as_int,
    is_str_list,
)


def instance_type_problems(info, requested, gpus_per_job, max_vcpus=None) -> list:
    """Problems of ``requested`` GPU types given ``info`` from ``ec2_instance_type_info``."""
    if not isinstance(info, Mapping) or "instance_types" not in info:
        raise AnsibleFilterError(
            "instance_type_problems expects the result of lmpspot.aws.ec2_instance_type_info "
            "(a mapping with 'instance_types' and 'missing')"
        )
    if not is_str_list(requested):
        raise AnsibleFilterError(f"requested must be a list of instance type names, got {requested!r}")
    facts = {t["instance_type"]: t for t in info.get("instance_types") or []}
    problems = []
    missing = [t for t in requested if t not in facts]
    if missing:
        problems.append(
            f"compute_gpu_instance_types: {', '.join(missing)} not offered in this region "
            "(DescribeInstanceTypes does not know them); fix the spelling or remove them"
        )
    usable = []  # (type, gpu count, vcpus)
    for name in requested:
        fact = facts.get(name)
        if fact is None:
            continue
        gpus = fact.get("gpus") or []
        nvidia = sum(
            int(g.get("count") or 0) for g in gpus if str(g.get("manufacturer", "")).upper() == "NVIDIA"
        )
        if not gpus:
            problems.append(
                f"compute_gpu_instance_types: {name} has no GPU; use an NVIDIA GPU type such as "
                "g5.xlarge, g6.xlarge or p4d.24xlarge"
            )
            continue
        if not nvidia:
            makers = ", ".join(sorted({str(g.get("manufacturer")) for g in gpus}))
            problems.append(
                f"compute_gpu_instance_types: {name} has {makers} GPUs; LAMMPS's GPU image needs "
                "NVIDIA (CUDA): use a type such as g5.xlarge or p4d.24xlarge"
            )
            continue
        classes = fact.get("supported_usage_classes")
        if classes is not None and "spot" not in classes:
            problems.append(f"compute_gpu_instance_types: {name} cannot run as spot; remove it")
            continue
        usable.append((name, nvidia, as_int(fact.get("vcpus"))))
    n = as_int(gpus_per_job)
    if usable and n is not None and 1 <= n <= MAX_GPUS_PER_JOB:
        fitting = [u for u in usable if u[1] >= n]
        if not fitting:
            most = max(usable, key=lambda u: u[1])
            problems.append(
                f"compute_gpus_per_job: {n} GPUs per job but no type in compute_gpu_instance_types has "
                f"that many (most: {most[1]} on {most[0]}); lower compute_gpus_per_job or add a type "
                "with enough GPUs (e.g. p4d.24xlarge, 8 GPUs)"
            )
        cap = as_int(max_vcpus)
        candidates = [u[2] for u in (fitting or usable) if u[2] is not None]
        if cap is not None and cap >= 1 and candidates and cap < min(candidates):
            problems.append(
                f"compute_max_vcpus: {cap} is below the {min(candidates)} vCPUs of the smallest usable "
                "instance type, so Batch could never start one; raise compute_max_vcpus"
            )
    return problems


def availability_zone_problems(azs, available) -> list:
    """Problems of ``azs`` given the zones DescribeAvailabilityZones lists for the region."""
    if not is_str_list(azs):
        return []  # config_problems reports the shape
    if not isinstance(available, (list, tuple)):
        raise AnsibleFilterError("available must be the availability_zones list of amazon.aws.aws_az_info")
    states = {z.get("zone_name"): z.get("state") for z in available if isinstance(z, Mapping)}
    problems = []
    unknown = [z for z in azs if z not in states]
    if unknown:
        problems.append(
            f"lmpspot_availability_zones: {', '.join(unknown)} not found in the region "
            f"(it has {', '.join(sorted(k for k in states if k)) or 'none'}); use existing zones"
        )
    down = [z for z in azs if z in states and states[z] != "available"]
    if down:
        problems.append(f"lmpspot_availability_zones: {', '.join(down)} not available now; pick other zones")
    return problems


class FilterModule:
    def filters(self):
        return {
            "instance_type_problems": instance_type_problems,
            "availability_zone_problems": availability_zone_problems,
        }
