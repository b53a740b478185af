"""Does the gpu image's build match the GPUs of the instance types it will run on?

``gpu_arch_problems(info, requested, accelerator, arch, precision)`` takes the result of
``lmpspot.aws.ec2_instance_type_info`` (GPU model names from DescribeInstanceTypes) and
the image's build settings, and returns one message per mismatch, naming the setting
and the fix:

- GPU package (``accelerator: gpu``, ``arch: sm_XY``): its SASS for X.Y runs on a GPU of
  compute capability X.Z with Z >= Y (same major). Its fatbins also carry compute_XY PTX,
  which a new enough driver could JIT-compile for a later major, but the image is meant to
  run its SASS (no JIT at every start, kernels built for the GPU): other majors are refused.
- KOKKOS (``accelerator: kokkos``, ``arch: AMPERE80`` ...): exactly one architecture,
  which must equal the GPU's.
- ``precision: double`` on a GPU whose FP64 rate is a small fraction of its FP32 rate
  (A10G, L4, L40S, T4: 1/32-1/64) runs several times slower than the A100 the runs were
  sized for: refused; such GPUs need a ``mixed`` build of their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# NVIDIA GPU models on EC2 (DescribeInstanceTypes GpuInfo.Gpus[].Name) -> (compute capability, fast FP64).
GPU_MODELS = {
    "K80": ((3, 7), True),
    "M60": ((5, 2), False),
    "V100": ((7, 0), True),
    "T4": ((7, 5), False),
    "T4g": ((7, 5), False),
    "A100": ((8, 0), True),
    "A10G": ((8, 6), False),
    "L4": ((8, 9), False),
    "L40S": ((8, 9), False),
    "H100": ((9, 0), True),
    "H200": ((9, 0), True),
    "B200": ((10, 0), True),
}
KOKKOS_ARCHS = {
    "VOLTA70": (7, 0),
    "TURING75": (7, 5),
    "AMPERE80": (8, 0),
    "AMPERE86": (8, 6),
    "ADA89": (8, 9),
    "HOPPER90": (9, 0),
    "BLACKWELL100": (10, 0),
}
ARCH_BY_CC = {cc: f"sm_{cc[0]}{cc[1]}" for cc, _ in GPU_MODELS.values()}
PRECISIONS = ("double", "mixed", "single")


def _cc(accelerator: str, arch: str) -> tuple[int, int]:
    if accelerator == "kokkos":
        if arch not in KOKKOS_ARCHS:
            raise AnsibleFilterError(
                f"image_gpu_arch: {arch!r} is not a Kokkos architecture ({', '.join(KOKKOS_ARCHS)})"
            )
        return KOKKOS_ARCHS[arch]
    m = re.fullmatch(r"sm_(\d+)(\d)", str(arch))
    if not m:
        raise AnsibleFilterError(f"image_gpu_arch: {arch!r} is not a CUDA architecture like sm_80")
    return int(m.group(1)), int(m.group(2))


def _runs_on(accelerator: str, built: tuple[int, int], device: tuple[int, int]) -> bool:
    if accelerator == "kokkos":
        return built == device
    return built[0] == device[0] and device[1] >= built[1]


def gpu_arch_problems(info, requested, accelerator="gpu", arch="sm_80", precision="double") -> list:
    """Messages for every requested type whose GPU the image's build does not fit."""
    if accelerator in ("none", "", None):
        return []
    if accelerator not in ("gpu", "kokkos"):
        return [f"image_gpu_accelerator: {accelerator!r} must be gpu or kokkos"]
    if precision not in PRECISIONS:
        return [f"image_gpu_precision: {precision!r} must be one of {', '.join(PRECISIONS)}"]
    if not isinstance(info, Mapping):
        raise AnsibleFilterError("gpu_arch_problems expects the result of lmpspot.aws.ec2_instance_type_info")
    try:
        built = _cc(accelerator, arch)
    except AnsibleFilterError as e:
        return [str(e)]
    facts = {t["instance_type"]: t for t in info.get("instance_types") or []}
    problems = []
    for name in requested or []:
        gpus = [
            g
            for g in (facts.get(name) or {}).get("gpus") or []
            if str(g.get("manufacturer")).upper() == "NVIDIA"
        ]
        if not gpus:
            continue  # instance_type_problems reports types without NVIDIA GPUs
        model = str(gpus[0].get("name"))
        known = GPU_MODELS.get(model)
        if known is None:
            problems.append(
                f"compute_gpu_instance_types: {name} has {model} GPUs, whose architecture lmpspot does not "
                "know; remove the type or use p4d.24xlarge (A100)"
            )
            continue
        device, fast_fp64 = known
        if not _runs_on(accelerator, built, device):
            need = ARCH_BY_CC[device] if accelerator == "gpu" else _kokkos_name(device)
            problems.append(
                f"image_gpu_arch: the image is built for {arch} but {name} has {model} GPUs "
                f"(compute capability {device[0]}.{device[1]}); build an image with image_gpu_arch: {need} "
                f"for a queue of its own, or remove {name} from compute_gpu_instance_types"
            )
        elif precision == "double" and not fast_fp64:
            problems.append(
                f"image_gpu_precision: double on {name} ({model}: FP64 at 1/32-1/64 of FP32, several times "
                f"slower than an A100); use p4d.24xlarge, or a separate environment whose image has "
                f"image_gpu_precision: mixed"
            )
    return problems


def _kokkos_name(cc: tuple[int, int]) -> str:
    return next((k for k, v in KOKKOS_ARCHS.items() if v == cc), f"(none for {cc[0]}.{cc[1]})")


class FilterModule:
    def filters(self):
        return {"gpu_arch_problems": gpu_arch_problems}
