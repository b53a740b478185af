"""Throttled AWS Batch calls are retried with jittered exponential backoff.

A botocore ``Stubber`` answers ``TooManyRequestsException`` (HTTP 429, what Batch says
above about 50 calls a second) N times, then succeeds: the call returns the success, after
N waits that grow (``lmpspot.backoff`` for ``lmpspot status``/``prune``; AWSRetry's
jittered backoff in ``lmpspot.aws.batch_submit_job`` for SubmitJob, DescribeJobs and ListJobs).
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.lmpspot.aws.plugins.modules.batch_submit_job import BATCH_RETRY
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lmpspot import backoff
from lmpspot.status import describe_jobs, list_queue_jobs

JOB = {"jobName": "lmpspot-sweep", "jobId": "11111111-2222-3333-4444-555555555555"}


@pytest.fixture
def batch():
    client = boto3.client("batch", region_name="us-east-2", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub


def throttle(stub: Stubber, method: str, times: int) -> None:
    for _ in range(times):
        stub.add_client_error(
            method, service_error_code="TooManyRequestsException", service_message="Too Many Requests",
            http_status_code=429,
        )  # fmt: skip


@pytest.mark.parametrize("times", [1, 3, 7])
def test_status_describe_jobs_backs_off_then_succeeds(batch, monkeypatch, times):
    client, stub = batch
    waits: list[float] = []
    monkeypatch.setattr(backoff.time, "sleep", waits.append)
    throttle(stub, "describe_jobs", times)
    stub.add_response("describe_jobs", {"jobs": []}, {"jobs": ["a"]})
    assert describe_jobs(client, ["a"]) == []
    stub.assert_no_pending_responses()
    assert len(waits) == times
    caps = [min(backoff.CAP_S, backoff.BASE_S * 2**n) for n in range(times)]
    assert all(0.0 <= w <= cap for w, cap in zip(waits, caps, strict=True))


def test_status_list_jobs_backs_off_per_page(batch, monkeypatch):
    client, stub = batch
    waits: list[float] = []
    monkeypatch.setattr(backoff.time, "sleep", waits.append)
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        throttle(stub, "list_jobs", 2)
        summaries = [{"jobId": "a", "jobName": "x"}] if status == "RUNNING" else []
        stub.add_response("list_jobs", {"jobSummaryList": summaries}, {"jobQueue": "q", "jobStatus": status})
    assert list_queue_jobs(client, "q") == ["a"]
    assert len(waits) == 14


def test_backoff_gives_up_after_its_attempts_and_passes_other_errors(batch, monkeypatch):
    client, stub = batch
    monkeypatch.setattr(backoff.time, "sleep", lambda _s: None)
    throttle(stub, "describe_jobs", backoff.ATTEMPTS)
    with pytest.raises(ClientError, match="TooManyRequests"):
        describe_jobs(client, ["a"])
    stub.add_client_error("describe_jobs", service_error_code="ClientException", http_status_code=400)
    with pytest.raises(ClientError, match="ClientException"):
        describe_jobs(client, ["a"])
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("times", [1, 4])
def test_submit_module_backs_off_then_submits(batch, monkeypatch, times):
    client, stub = batch
    waits: list[float] = []
    monkeypatch.setattr(cloud.time, "sleep", waits.append)
    request = {
        "jobName": JOB["jobName"],
        "jobQueue": "q",
        "jobDefinition": "d",
        "arrayProperties": {"size": 1000},
    }
    throttle(stub, "submit_job", times)
    stub.add_response("submit_job", JOB, request)
    wrapped = RetryingBotoClientWrapper(client, BATCH_RETRY)
    assert wrapped.submit_job(aws_retry=True, **request)["jobId"] == JOB["jobId"]
    stub.assert_no_pending_responses()
    assert len(waits) == times
    assert all(0.0 <= w <= min(60, 2 * 2**n) for n, w in enumerate(waits))


def test_submit_module_backs_off_on_describe_jobs(batch, monkeypatch):
    client, stub = batch
    waits: list[float] = []
    monkeypatch.setattr(cloud.time, "sleep", waits.append)
    throttle(stub, "describe_jobs", 2)
    stub.add_response("describe_jobs", {"jobs": []}, {"jobs": ["a"]})
    assert RetryingBotoClientWrapper(client, BATCH_RETRY).describe_jobs(jobs=["a"], aws_retry=True) == {
        "jobs": []
    }
    assert len(waits) == 2


def test_status_clients_retry_throttling_and_pool_a_connection_per_thread():
    cfg = backoff.client_config(pool=32)
    assert cfg.max_pool_connections == 32
    assert cfg.retries == {"mode": "standard", "max_attempts": 10}
