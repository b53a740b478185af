#!/usr/bin/env bash
# Pack what scripts/gpu_check.sh needs from the built gpu image into one xz tarball
# (<= 64 MiB): `make gpu-bundle`.
#
#   scripts/gpu-bundle.sh [IMAGE] [OUT]
#   IMAGE default localhost/lmpspot:gpu; OUT default .state/gpu/lmpspot-gpu-bundle.tar.xz
#
# Contents, laid out as in the image: /opt/lammps (lmp, liblammps, the Python module),
# /opt/lmpspot (the runner's venv), Python's interpreter and standard library (no tests),
# Open MPI's and PMIx's plugin folders, and every shared library these load (ldd closure)
# including glibc and its loader -- so they run on any x86-64 Linux through the bundled
# loader, whatever its glibc. Not included: the driver's libcuda.so.1 (the GPU machine's).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-localhost/lmpspot:gpu}
out=${2:-${LMPSPOT_STATE_DIR:-$repo/.state}/gpu/lmpspot-gpu-bundle.tar.xz}
limit=$((64 * 1024 * 1024))
if [ -z "${CONTAINERS_CONF:-}" ] && [ -f "$repo/.state/containers.conf" ]; then
  export CONTAINERS_CONF="$repo/.state/containers.conf"
fi
stage=$(mktemp -d "${TMPDIR:-/tmp}/lmpspot-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/root" "$(dirname "$out")"

# shellcheck disable=SC2016  # expanded inside the container
podman run --rm --network none --user 0 -v "$stage/root:/out" --entrypoint /bin/bash "$image" -c '
set -euo pipefail
py=$(readlink -f /usr/bin/python3)
pyver=$(basename "$py")
stdlib=/usr/lib/$pyver
plugins=$(find /usr/lib/x86_64-linux-gnu -maxdepth 4 -type d \( -path "*openmpi/lib/openmpi*" -o -path "*pmix*/lib/pmix" -o -path "*/prte" \) 2>/dev/null || true)
roots="/opt/lammps /opt/lmpspot $py $stdlib $plugins /usr/share/openmpi /usr/share/pmix /etc/openmpi"
objs=$(find /opt/lammps /opt/lmpspot "$stdlib/lib-dynload" $plugins -type f \( -name "*.so*" -o -perm -u+x \) 2>/dev/null; echo "$py")
libs=$(for f in $objs; do ldd "$f" 2>/dev/null | awk "/=> \// {print \$3} /^\t\/lib/ {print \$1}"; done | sort -u)
{
  for r in $roots; do [ -e "$r" ] && echo "$r"; done
  for l in $libs; do echo "$l"; readlink -f "$l"; done
  echo /usr/lib64/ld-linux-x86-64.so.2; readlink -f /usr/lib64/ld-linux-x86-64.so.2
} | sort -u > /tmp/list
tar -C / --exclude="__pycache__" --exclude="$stdlib/test" --exclude="$stdlib/idlelib" \
  --exclude="$stdlib/tkinter" --exclude="$stdlib/ensurepip" --exclude="$stdlib/lib2to3" \
  --exclude="*/libcuda.so*" -cf - -T /tmp/list | tar -C /out -xf -
echo "$pyver" > /out/PYTHON
'
# The architecture the kernels were built for (gpu_check.sh compares it with the GPU's).
podman image inspect --format '{{index .Labels "org.opencontainers.image.description"}}' "$image" \
  | { grep -o 'sm_[0-9]*' || echo unknown; } | head -1 > "$stage/root/GPU_ARCH"
# The benchmark inputs, from the same LAMMPS source tarball the image was built from.
tarball=$(ls "${LMPSPOT_STATE_DIR:-$repo/.state}"/gpu-sources/lammps_*.tar.gz | head -1)
mkdir -p "$stage/root/opt/lmpspot-bench"
tar -C "$stage/root/opt/lmpspot-bench" -xzf "$tarball" --strip-components=1 \
  bench/in.chain.scaled bench/data.chain bench/in.rhodo.scaled bench/data.rhodo
tar -C "$stage/root" --owner=0 --group=0 -cf - . | xz -9 -T0 > "$out"
size=$(stat -c %s "$out")
echo "$out: $size bytes ($(du -sh "$stage/root" | cut -f1) unpacked)"
if [ "$size" -gt "$limit" ]; then
  echo "gpu-bundle: $size bytes is over the 64 MiB a GPU check may carry" >&2
  exit 1
fi
