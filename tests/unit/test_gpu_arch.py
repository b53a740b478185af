"""The preflight's build-vs-GPU check (lmpspot.aws.gpu_arch_problems) on facts shaped
like DescribeInstanceTypes' answer."""

from __future__ import annotations

from ansible_collections.lmpspot.aws.plugins.filter.gpu_arch import GPU_MODELS, gpu_arch_problems

TYPES = {
    "p4d.24xlarge": "A100",
    "p4de.24xlarge": "A100",
    "p5.48xlarge": "H100",
    "g5.xlarge": "A10G",
    "g6.xlarge": "L4",
    "g6e.xlarge": "L40S",
    "g4dn.xlarge": "T4",
}
INFO = {
    "instance_types": [
        {"instance_type": t, "gpus": [{"name": m, "manufacturer": "NVIDIA", "count": 1}]}
        for t, m in TYPES.items()
    ]
}


def test_gpu_package_rule_for_every_pair():
    """Every (type, arch, precision): refused exactly when the SASS cannot run there
    (other major, or an older minor) or double precision meets a slow-FP64 GPU."""
    for itype, model in TYPES.items():
        (major, minor), fast_fp64 = GPU_MODELS[model]
        for arch in ("sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90"):
            built = (int(arch[3:-1]), int(arch[-1]))
            runs = built[0] == major and minor >= built[1]
            for prec in ("double", "mixed"):
                problems = gpu_arch_problems(INFO, [itype], "gpu", arch, prec)
                expected = (not runs) or (prec == "double" and not fast_fp64)
                assert bool(problems) == expected, (itype, arch, prec, problems)
                for p in problems:
                    assert p.startswith(("image_gpu_arch:", "image_gpu_precision:")) and itype in p


def test_a100_default_passes_and_kokkos_needs_the_exact_arch():
    assert gpu_arch_problems(INFO, ["p4d.24xlarge", "p4de.24xlarge"], "gpu", "sm_80", "double") == []
    assert gpu_arch_problems(INFO, ["p4d.24xlarge"], "kokkos", "AMPERE80", "double") == []
    (msg,) = gpu_arch_problems(INFO, ["g5.xlarge"], "kokkos", "AMPERE80", "mixed")
    assert "built for AMPERE80 but g5.xlarge has A10G" in msg and "image_gpu_arch: AMPERE86" in msg
    assert gpu_arch_problems(INFO, ["g5.xlarge"], "gpu", "sm_80", "mixed") == []  # sm_80 SASS runs on 8.6
    assert gpu_arch_problems(INFO, ["g5.xlarge"], "none", "sm_80", "double") == []
    assert "not a CUDA architecture" in gpu_arch_problems(INFO, ["p4d.24xlarge"], "gpu", "80", "double")[0]
    assert "must be one of" in gpu_arch_problems(INFO, ["p4d.24xlarge"], "gpu", "sm_80", "half")[0]
