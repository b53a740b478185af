#!/usr/bin/env bash
# make up: stand the system up (site.yml), then run the main job (playbooks/main_job.yml)
# and follow its progress on the terminal. Arguments go to both ansible-playbook runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LMPSPOT_BIN:-.venv/bin}

"$BIN/ansible-playbook" site.yml "$@"

# The local executor appends its progress and the job's output to this file while
# ansible-playbook waits for the job; show it as it comes.
log=$("$BIN/ansible" localhost -m ansible.builtin.debug -a var=main_job_log_file "$@" 2>/dev/null |
  sed -n 's/.*"main_job_log_file": "\(.*\)".*/\1/p' || true)
follow=
if [ -n "$log" ]; then
  mkdir -p "$(dirname "$log")"
  touch "$log"
  tail -n0 -F --pid=$$ "$log" 2>/dev/null | grep --line-buffered -v '"_aws"' | sed -u 's/^/    | /' &
  follow=$!
fi
trap '[ -n "$follow" ] && kill "$follow" 2>/dev/null || true' EXIT
"$BIN/ansible-playbook" playbooks/main_job.yml "$@"
