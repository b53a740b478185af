#!/usr/bin/env bash
# make up: stand the system up (site.yml), then run the main job (playbooks/main_job.yml)
# and follow its progress on the terminal. Arguments go to both ansible-playbook runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LMPSPOT_BIN:-.venv/bin}

"$BIN/ansible-playbook" site.yml "$@"

# The local executor appends its progress and the job's output to this file while
# ansible-playbook waits for the job; show it as it comes.
# main_job_log_file is a shared default (roles/lmpspot_defaults), which an ad-hoc command
# does not load: playbooks/setting.yml prints it as the plays see it.
log=$("$BIN/ansible-playbook" playbooks/setting.yml -e setting=main_job_log_file "$@" 2>/dev/null |
  sed -n 's/.*"msg": "main_job_log_file=\(.*\)".*/\1/p' || true)
if [ -z "$log" ]; then
  echo "make up: cannot tell where the main job logs (playbooks/setting.yml); its progress is not followed" >&2
fi
follow=
if [ -n "$log" ]; then
  mkdir -p "$(dirname "$log")"
  touch "$log"
  tail -n0 -F --pid=$$ "$log" 2>/dev/null | grep --line-buffered -v '"_aws"' | sed -u 's/^/    | /' &
  follow=$!
fi
trap '[ -n "$follow" ] && kill "$follow" 2>/dev/null || true' EXIT
"$BIN/ansible-playbook" playbooks/main_job.yml "$@"
