#!/usr/bin/env bash
# Build the gpu target of container/Containerfile locally (no push): `make gpu-image`.
#
# The same inputs the image role uses (roles/image/defaults/main.yml: the LAMMPS tarball,
# its sha256, GPU_ARCH, GPU_PREC ...): both Debian base images (scripts/build-base-image.sh),
# the wheelhouse, the tarball in <state>/gpu-sources (downloaded once, sha256 checked), then
# `podman build --target gpu`. Afterwards it records what the image holds in
# <state>/gpu/report.txt: build time, size, `lmp -h`, `ldd` of every LAMMPS binary and
# library, `import lammps` -- with Debian's libcuda stub on LD_LIBRARY_PATH, since no
# GPU driver is needed to load the image's binaries but their libcuda.so.1 must resolve.
#
#   scripts/build-gpu-image.sh [IMAGE]     IMAGE default localhost/lmpspot:gpu
#
# Environment: LMPSPOT_STATE_DIR (default .state), MAKE_JOBS (default: nproc),
# CONTAINERS_CONF (default <state>/containers.conf when that file exists).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-localhost/lmpspot:gpu}
state=${LMPSPOT_STATE_DIR:-$repo/.state}
py=${LMPSPOT_PYTHON:-$repo/.venv/bin/python}
mkdir -p "$state/gpu" "$state/gpu-sources" "$state/wheelhouse"
if [ -z "${CONTAINERS_CONF:-}" ] && [ -f "$state/containers.conf" ]; then
  export CONTAINERS_CONF="$state/containers.conf"
fi

# The role's defaults, read (not copied) so that the two cannot drift.
get() { "$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))[sys.argv[2]])' \
  "$repo/roles/image/defaults/main.yml" "$1"; }
tarball=$(get image_gpu_lammps_tarball)
url=$(get image_gpu_lammps_url)
sha=$(get image_gpu_lammps_sha256)
strip=$(get image_gpu_lammps_strip_components)
pyver=$(get image_gpu_lammps_py_version)
arch=$(get image_gpu_arch)
prec=$(get image_gpu_precision)
gpu_base=$(get image_gpu_base)
suite=$(get image_gpu_base_suite)
cpu_base=$(get image_cpu_base)
jobs=${MAKE_JOBS:-$(nproc)}

"$repo/scripts/build-base-image.sh" "$cpu_base" bookworm
"$repo/scripts/build-base-image.sh" "$gpu_base" "$suite"

src="$state/gpu-sources/$tarball"
if ! echo "$sha  $src" | sha256sum -c --quiet - 2>/dev/null; then
  curl -fsSL --retry 3 -o "$src.part" "$url"
  echo "$sha  $src.part" | sha256sum -c --quiet -
  mv "$src.part" "$src"
fi

"$py" -m pip download --disable-pip-version-check --quiet --only-binary=:all: \
  --implementation=cp --python-version=3.11 --platform=manylinux_2_28_x86_64 \
  --platform=manylinux_2_17_x86_64 --platform=manylinux2014_x86_64 \
  --dest="$state/wheelhouse" --requirement="$repo/container/requirements.txt"

start=$(date +%s)
podman build --network host --format oci \
  --build-context "wheelhouse=$state/wheelhouse" \
  --build-context "lammps-src=$state/gpu-sources" \
  --build-arg "GPU_BASE=$gpu_base" --build-arg "BASE=$cpu_base" \
  --build-arg "LAMMPS_TARBALL=$tarball" --build-arg "LAMMPS_SHA256=$sha" \
  --build-arg "LAMMPS_STRIP_COMPONENTS=$strip" --build-arg "LAMMPS_PY_VERSION=$pyver" \
  --build-arg "GPU_ARCH=$arch" --build-arg "GPU_PREC=$prec" --build-arg "MAKE_JOBS=$jobs" \
  --ignorefile "$repo/container/.containerignore" --target gpu \
  -f "$repo/container/Containerfile" -t "$image" "$repo"
elapsed=$(($(date +%s) - start))
# The build stage too (all layers cached: seconds): the report takes the libcuda stub from it.
podman build --network host --format oci \
  --build-context "wheelhouse=$state/wheelhouse" \
  --build-context "lammps-src=$state/gpu-sources" \
  --build-arg "GPU_BASE=$gpu_base" --build-arg "BASE=$cpu_base" \
  --build-arg "LAMMPS_TARBALL=$tarball" --build-arg "LAMMPS_SHA256=$sha" \
  --build-arg "LAMMPS_STRIP_COMPONENTS=$strip" --build-arg "LAMMPS_PY_VERSION=$pyver" \
  --build-arg "GPU_ARCH=$arch" --build-arg "GPU_PREC=$prec" --build-arg "MAKE_JOBS=$jobs" \
  --ignorefile "$repo/container/.containerignore" --target gpu-build \
  -f "$repo/container/Containerfile" -t "$image-build" "$repo" >/dev/null

"$repo/scripts/gpu-image-report.sh" "$image" "$elapsed" | tee "$state/gpu/report.txt"
