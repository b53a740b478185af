"""The gpu image's recipe, checked in seconds (the build itself is `make gpu-image`).

Properties of container/Containerfile and the image role that a broken recipe breaks:
lint; every stage's base is a local Debian base or an earlier stage (no registry pull);
the cpu stages come first and the gpu chain never needs them; nothing is fetched during
the build but Debian packages; the LAMMPS tarball comes from the `lammps-src` build
context and its sha256 is required and checked; the runtime stage installs the shared
libpython and copies only /opt/lammps and /opt/lmpspot (no CUDA toolkit, one liblammps);
every build argument the role passes is declared, and every ${ARG} a stage uses is
declared in that stage.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "container" / "Containerfile"
ROLE = REPO / "roles" / "image"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, rest) per instruction: continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        buf += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            kw, _, rest = buf.strip().partition(" ")
            out.append((kw.upper(), rest.strip()))
            buf = ""
    return out


def _stages() -> tuple[list[str], dict[str, dict]]:
    """Global ARGs and, per stage name, its base and instructions."""
    global_args: list[str] = []
    stages: dict[str, dict] = {}
    cur = None
    for kw, rest in _instructions(CONTAINERFILE.read_text()):
        if kw == "FROM":
            base, _, name = rest.partition(" AS ")
            cur = {"base": base.strip(), "ins": []}
            stages[name.strip()] = cur
        elif cur is None:
            assert kw == "ARG", f"{kw} before the first FROM"
            global_args.append(rest.split("=")[0])
        else:
            cur["ins"].append((kw, rest))
    return global_args, stages


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    p = subprocess.run([hadolint, str(CONTAINERFILE)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_stage_graph_needs_no_registry_and_gpu_never_needs_cpu():
    global_args, stages = _stages()
    names = list(stages)
    assert names[-1] == "gpu", "gpu is the default (last) target"
    assert names.index("cpu") < names.index("gpu-build"), "cpu stages first: --target cpu never builds gpu"
    assert stages["gpu-build"]["base"] == "${GPU_BASE}" and stages["gpu"]["base"] == "${GPU_BASE}"
    for name, st in stages.items():
        base = st["base"]
        local = base in names[: names.index(name)] or base in ("${BASE}", "${GPU_BASE}")
        assert local, f"stage {name} starts from {base}: not a local base or an earlier stage"
    for name in ("gpu-build", "gpu"):
        for kw, rest in stages[name]["ins"]:
            if kw in ("COPY", "RUN") and "from=" in rest.replace("--from=", "from="):
                src = re.search(r"from=([\w-]+)", rest.replace("--from=", "from=")).group(1)
                assert not src.startswith("cpu"), f"{name} uses the cpu stage {src}"
    text = CONTAINERFILE.read_text()
    for arg in ("BASE", "GPU_BASE"):
        assert arg in global_args
    assert "docker.io" not in text and "nvcr.io" not in text


def test_nothing_but_debian_packages_is_fetched():
    _, stages = _stages()
    for name, st in stages.items():
        for kw, rest in st["ins"]:
            if kw != "RUN":
                continue
            assert not re.search(r"\b(curl|wget|git clone|fetch)\b", rest), f"{name}: downloads: {rest[:120]}"
            assert "install-python" not in rest, f"{name}: LAMMPS' wheel builder fetches from PyPI"
            if re.search(r"\bpip\b.* install", rest):
                assert "--no-index" in rest, f"{name}: pip install from an index: {rest[:120]}"
            assert "DOWNLOAD_" not in rest, f"{name}: a CMake DOWNLOAD_* option fetches sources"


def test_lammps_source_is_the_pinned_tarball_from_the_build_context():
    _, stages = _stages()
    runs = [rest for kw, rest in stages["gpu-build"]["ins"] if kw == "RUN"]
    src = [r for r in runs if "from=lammps-src" in r]
    assert len(src) == 1
    assert 'test -n "${LAMMPS_SHA256}"' in src[0]
    assert re.search(
        r'echo "\$\{LAMMPS_SHA256\}\s+/lammps-src/\$\{LAMMPS_TARBALL\}" \| sha256sum -c -', src[0]
    )
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", defaults["image_gpu_lammps_sha256"])
    gpu_args = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["image__build_args_by_target"]["gpu"]
    assert gpu_args["LAMMPS_SHA256"] == "{{ image_gpu_lammps_sha256 }}"
    build = (ROLE / "tasks" / "build.yml").read_text()
    assert "--build-context=lammps-src={{ image__gpu_sources }}" in build
    assert "sha256:{{ image_gpu_lammps_sha256 }}" in (ROLE / "tasks" / "sources.yml").read_text()


def test_runtime_stage_has_libpython_and_no_toolkit():
    _, stages = _stages()
    ins = stages["gpu"]["ins"]
    copies = [rest for kw, rest in ins if kw == "COPY"]
    assert copies and all(
        re.fullmatch(r"--from=gpu-build (/opt/lammps|/opt/lmpspot) \1", c) for c in copies
    ), copies
    installs = " ".join(rest for kw, rest in ins if kw == "RUN" and "apt-get install" in rest)
    assert '"libpython${PYTHON_VERSION}"' in installs
    for word in ("cuda", "nvidia", "-dev", "cmake", "g++"):
        assert word not in installs, f"the runtime stage installs {word}"
    build_runs = " ".join(rest for kw, rest in stages["gpu-build"]["ins"] if kw == "RUN")
    assert "PKG_PYTHON=on" in build_runs and "PKG_GPU=on" in build_runs
    for pkg in ("MOLECULE", "KSPACE", "RIGID", "CLASS2", "MC", "EXTRA-MOLECULE", "EXTRA-PAIR", "EXTRA-FIX"):
        assert f"PKG_{pkg}=on" in build_runs
    # The Python module is linked to the one liblammps, not installed with a second copy.
    assert 'ln -s /opt/lammps/python/lammps "${site}/lammps"' in build_runs


@pytest.mark.parametrize("stage", ["gpu-build", "gpu"])
def test_every_arg_a_stage_uses_is_declared_there(stage):
    _, stages = _stages()
    ins = stages[stage]["ins"]
    declared = {rest.split("=")[0] for kw, rest in ins if kw == "ARG"}
    declared |= {m for kw, rest in ins if kw == "ENV" for m in re.findall(r"(\w+)=", rest)}
    for kw, rest in ins:
        if kw not in ("RUN", "LABEL"):
            continue
        # Variables the RUN sets itself, and VERSION_CODENAME from sourcing /etc/os-release.
        shell_vars = set(re.findall(r"(?:^|[\s;&(])(\w+)=", rest)) | {"PATH", "VERSION_CODENAME"}
        for var in re.findall(r"\$\{(\w+)", rest):
            assert var in declared or var in shell_vars, f"{stage}: ${{{var}}} is not declared in the stage"


def test_every_build_arg_the_role_passes_is_declared():
    text = CONTAINERFILE.read_text()
    declared = set(re.findall(r"^ARG (\w+)", text, flags=re.M))
    by_target = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["image__build_args_by_target"]
    for target, args in by_target.items():
        missing = set(args) - declared
        assert not missing, f"{target}: the role passes undeclared build args {missing}"
