#!/usr/bin/env bash
# Set-up for both README commands: system packages (when root) and the pinned .venv.
# Idempotent and quick when nothing changed. Prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${LMPSPOT_VENV:-.venv}
PYTHON=${PYTHON:-python3}
# Debian/Ubuntu packages lmpspot needs on the controller. podman/runc/debootstrap build
# and run the LAMMPS container locally; docker-registry stands in for ECR's data plane.
APT_PACKAGES=(python3-venv python3-pip ca-certificates git make curl podman runc debootstrap docker-registry uidmap
  openssh-client)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "lmpspot needs these system packages: ${missing[*]}" >&2
    echo "install them first:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

stamp="$VENV/.lmpspot-requirements.sha256"
want=$(cat requirements.txt pyproject.toml local/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> creating $VENV from requirements.txt (pinned)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements.txt
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  # The local stand-ins (executor, IMDS stub): this venv only, never the image (local/pyproject.toml).
  "$VENV/bin/python" -m pip install -q --no-deps -e ./local
  echo "$want" > "$stamp"
fi
