"""Local stand-ins for what AWS does around lmpspot (development and tests only).

* :mod:`lmpspot_local.executor`: the local executor, "the machine that executes the job"
  in local mode: runs a job submitted to the local AWS under podman with Batch's semantics.
* :mod:`lmpspot_local.container_env`: what it hands a job container (loopback only).
* :mod:`lmpspot_local.fallback`: the Spot -> On-Demand fallback (EventBridge rule + state
  machine) played locally.
* :mod:`lmpspot_local.imds_stub`: an EC2 instance-metadata (IMDSv2) server.
* :mod:`lmpspot_local.moto_server`: the local AWS's server: moto's application on a server
  that keeps connections open, as S3 does.

Never installed into the container image and never imported by :mod:`lmpspot`.
"""
