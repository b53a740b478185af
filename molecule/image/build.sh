#!/usr/bin/env bash
# Build (once per Containerfile content) the systemd Debian 12 image the molecule
# scenarios run in; prints the image name. Reuses scripts/build-base-image.sh for the
# debootstrap base and scripts/podman-env.sh for what podman needs on this machine.
#
#   eval "$(molecule/image/build.sh)"   # exports CONTAINERS_CONF and LMPSPOT_MOLECULE_IMAGE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
conf=${CONTAINERS_CONF:-}
if [ -z "$conf" ]; then
  eval "$("$repo/scripts/podman-env.sh" "$repo/.state/containers.conf")"
  conf=$CONTAINERS_CONF
fi
export CONTAINERS_CONF=$conf
base=${LMPSPOT_BASE_IMAGE:-localhost/lmpspot-base:bookworm}
"$repo/scripts/build-base-image.sh" "$base" >&2
tag=$(cat "$here/Containerfile" | sha256sum | cut -c1-12)
image=localhost/lmpspot-molecule:$tag
if ! podman image exists "$image"; then
  podman build --quiet --network host --build-arg "BASE=$base" -t "$image" -f "$here/Containerfile" "$here" >&2
fi
printf 'export CONTAINERS_CONF=%q LMPSPOT_MOLECULE_IMAGE=%q\n' "$conf" "$image"
