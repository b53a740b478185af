#!/bin/bash
# lmpspot: deliver an EC2 Spot interruption notice to the Batch job containers as SIGTERM.
# Runs on the Batch host as root (a systemd service from the launch template's user data):
# the jobs cannot read IMDS themselves (hop limit 1 and the OUTPUT rule for non-root users).
# The runner takes SIGTERM as a stop request: checkpoint at the next exact step, exit 75,
# and Batch retries the job (docs/COMPUTE.md). Containers started after the notice get it too.
set -u
imds=${LMPSPOT_IMDS_ENDPOINT:-http://169.254.169.254}
interval=${LMPSPOT_SPOT_POLL_S:-5}
docker=${LMPSPOT_DOCKER:-docker}
label=${LMPSPOT_JOB_LABEL:-com.amazonaws.ecs.task-arn}
signalled=" "
noticed=""
while :; do
  if [ -z "$noticed" ]; then
    token=$(curl -sf --max-time 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \
      "$imds/latest/api/token" || true)
    if [ -n "$token" ] && notice=$(curl -sf --max-time 2 -H "X-aws-ec2-metadata-token: $token" \
      "$imds/latest/meta-data/spot/instance-action"); then
      noticed=$notice
      echo "lmpspot-spot-notice: interruption notice $notice: SIGTERM to the job containers"
    fi
  fi
  if [ -n "$noticed" ]; then
    for id in $($docker ps -q --no-trunc --filter "label=$label"); do
      case "$signalled" in *" $id "*) continue ;; esac
      if $docker kill --signal TERM "$id" >/dev/null; then
        signalled="$signalled$id "
        echo "lmpspot-spot-notice: SIGTERM sent to container $id"
      fi
    done
    [ -n "${LMPSPOT_SPOT_ONCE:-}" ] && exit 0
  fi
  sleep "$interval"
done
