#!/usr/bin/env bash
# Detect what podman needs on this machine (runc? lower default_ulimits?) by trying,
# write it to .state/containers.conf, and print the export line for it:
#
#   eval "$(scripts/podman-env.sh)"     # then podman works as the plays use it
#
# Same code as the lmpspot.aws.podman_containers_conf module (module_utils/podman_env.py).
# Writes nothing podman needs elsewhere: on machines where the defaults work, the file
# holds no settings.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
conf=${1:-$repo/.state/containers.conf}
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
"$python" - "$repo/collections" "$conf" <<'PY' >&2
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.lmpspot.aws.plugins.module_utils import podman_env
res = podman_env.ensure(sys.argv[2])
ulimits = ", ".join(res["default_ulimits"]) or "podman defaults"
print(f"podman-env: runtime {res['runtime']}, ulimits {ulimits} -> {res['path']}"
      f" ({'written' if res['changed'] else 'unchanged'})")
PY
printf 'export CONTAINERS_CONF=%q\n' "$conf"
