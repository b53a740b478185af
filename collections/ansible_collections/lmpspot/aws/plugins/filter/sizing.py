# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Size a Batch job's vCPU and memory from the GPU instance shapes it may land on."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


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
