#!/usr/bin/env bash
# Build the local Debian base image for the cpu target of container/Containerfile.
#
# No container registry is reachable on lmpspot's build machines, so the base image is
# made from the Debian archive itself: debootstrap --variant=minbase, then podman import.
# Skipped (prints "present") when the image already exists; prints "built" otherwise.
#
#   scripts/build-base-image.sh [IMAGE] [SUITE] [MIRROR]
#   IMAGE  default localhost/lmpspot-base:bookworm
#   SUITE  default bookworm
#   MIRROR default http://deb.debian.org/debian
#
# Needs root (debootstrap), podman and debootstrap. Honours CONTAINERS_CONF.
set -euo pipefail

IMAGE=${1:-${LMPSPOT_BASE_IMAGE:-localhost/lmpspot-base:bookworm}}
SUITE=${2:-bookworm}
MIRROR=${3:-http://deb.debian.org/debian}

if podman image exists "$IMAGE"; then
  echo "present $IMAGE"
  exit 0
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-base-image: $tool is not installed" >&2; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
  echo "build-base-image: debootstrap needs root" >&2
  exit 1
fi

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/lmpspot-base.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

start=$(date +%s)
debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"
# Keep the image small: no package lists or caches from the bootstrap.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" --numeric-owner -c . | podman import --quiet \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL org.opencontainers.image.title=lmpspot-base" \
  --change "LABEL org.opencontainers.image.description=Debian $SUITE minbase from debootstrap" \
  --change "LABEL org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  - "$IMAGE" >/dev/null
echo "built $IMAGE in $(($(date +%s) - start)) s"
