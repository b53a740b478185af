"""The local job record: ``s3://<bucket>/<results prefix><sim_id>/attempts.json``.

In local mode the local AWS (moto) marks every job ``SUCCEEDED`` at submission and runs
nothing; the local executor (the stand-in for Batch's compute, ``lmpspot_local.executor``,
outside this package) runs the job and writes this record: what ``DescribeJobs`` would say
on AWS (the job's status and the scheduler's view of each attempt).  The product only
reads it (:mod:`lmpspot.prune`, :mod:`lmpspot.status`); its place and reader live here so
that the product never imports the stand-in.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from lmpspot.s3errors import is_not_found

ATTEMPTS_NAME = "attempts.json"


def job_record_key(results_prefix: str, sim_id: str, array_index: int | None = None) -> str:
    prefix = results_prefix if results_prefix.endswith("/") else results_prefix + "/"
    sub = f"array-{array_index}/" if array_index is not None else ""
    return f"{prefix}{sim_id}/{sub}{ATTEMPTS_NAME}"


def read_job_record(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return json.loads(body)
