#!/usr/bin/env bash
# What a built gpu image holds, checked without a GPU (scripts/build-gpu-image.sh runs it).
#
#   scripts/gpu-image-report.sh IMAGE [BUILD_SECONDS]
#
# Needs IMAGE-build (the gpu-build stage, tagged by build-gpu-image.sh) for Debian's
# libcuda stub: the stub stands in for the driver's libcuda.so.1 so that the binaries
# load; nothing here touches a GPU. Exits 1 when a library other than libcuda.so.1 is
# missing, `lmp -h` lacks the GPU package or `import lammps` fails.
set -euo pipefail

image=$1
elapsed=${2:-}
state=${LMPSPOT_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.state}
stub="$state/gpu/stub"
mkdir -p "$stub"
cid=$(podman create "$image-build" true)
trap 'podman rm -f "$cid" >/dev/null 2>&1 || true' EXIT
podman cp "$cid:/usr/lib/x86_64-linux-gnu/stubs/libcuda.so" "$stub/libcuda.so.1"

echo "image: $image"
[ -n "$elapsed" ] && echo "podman build: ${elapsed} s on $(nproc) cores ($(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
podman image inspect --format 'size: {{.Size}} bytes' "$image"
podman image inspect --format 'size: {{.Size}} bytes' "$image-build" | sed 's/^/build stage /'

# shellcheck disable=SC2016  # expanded inside the container
podman run --rm --network none -v "$stub:/opt/cuda-stub:ro" --entrypoint /bin/bash "$image" -c '
set -euo pipefail
bad=0
echo "--- ldd without the driver (only libcuda.so.1 may be missing)"
for f in /opt/lammps/bin/lmp /opt/lammps/lib/*.so*; do
  [ -L "$f" ] && continue
  missing=$(ldd "$f" | awk "/not found/ {print \$1}" | sort -u | tr "\n" " ")
  echo "$f: missing: ${missing:-none}"
  for m in $missing; do [ "$m" = libcuda.so.1 ] || bad=1; done
done
export LD_LIBRARY_PATH=/opt/lammps/lib:/opt/cuda-stub
echo "--- ldd /opt/lammps/bin/lmp (stub libcuda on LD_LIBRARY_PATH)"
ldd /opt/lammps/bin/lmp
echo "--- ldd /opt/lammps/lib/liblammps.so"
ldd /opt/lammps/lib/liblammps.so
echo "--- import lammps (the runner venv): packages and accelerator configuration"
/opt/lmpspot/bin/python - <<EOF || bad=1
import lammps
lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
print("module", lammps.__file__, "version", lmp.version(), "module version", lammps.__version__)
pk = set(lmp.installed_packages)
print("packages", " ".join(sorted(pk)))
print("accelerator_config", lmp.accelerator_config)
gpu = lmp.accelerator_config.get("GPU", {})
need = {"GPU", "MOLECULE", "KSPACE", "RIGID", "CLASS2", "MC", "EXTRA-MOLECULE", "EXTRA-PAIR", "EXTRA-FIX", "PYTHON"}
lmp.close()
assert "cuda" in gpu.get("api", []), "no GPU package with the CUDA API"
assert not need - pk, f"packages missing: {sorted(need - pk)}"
EOF
# `lmp -h` asks the GPU package for its devices: with the stub in place of a driver it
# aborts (CUDA error 34, CUDA_ERROR_STUB_LIBRARY), so it runs only where a driver is.
if [ -e /dev/nvidiactl ]; then
  echo "--- lmp -h (header, accelerator configuration, installed packages)"
  lmp -h | sed -n "1,/^List of individual style options/p" | grep -v "^$" | head -80
else
  echo "--- lmp -h: skipped (no GPU driver here; the GPU package probes the device)"
fi
echo "--- liblammps copies in the image"
find / -xdev -name "liblammps*.so*" 2>/dev/null || true
echo "--- CUDA toolkit files in the image (expected: none)"
find / -xdev \( -name "nvcc" -o -name "libcudart.so*" -o -name "libcufft.so*" \) 2>/dev/null | head || true
exit $bad
'
