"""Retry an AWS call that was throttled, with exponential backoff and full jitter.

AWS Batch allows an account about 50 API calls a second in a Region (SubmitJob,
DescribeJobs and ListJobs together) and answers more with HTTP 429
``TooManyRequestsException``; S3 answers a burst on one prefix with 503 ``SlowDown``.
botocore retries these too (:func:`client_config`), but only inside one HTTP exchange
and a few times; the calls that list and describe a whole sweep's jobs go through
:func:`call`, which waits ``uniform(0, min(cap, base * 2**n))`` seconds before retry
``n`` (AWS's "full jitter") and gives up after ``attempts`` calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

THROTTLING = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
    }
)
ATTEMPTS = 8
BASE_S = 0.5
CAP_S = 20.0


def is_throttling(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return err.get("Code") in THROTTLING or status == 429


def call(
    fn: Callable[..., T],
    /,
    *args: Any,
    attempts: int = ATTEMPTS,
    base: float = BASE_S,
    cap: float = CAP_S,
    sleep: Callable[[float], Any] | None = None,
    **kwargs: Any,
) -> T:
    """``fn(*args, **kwargs)``, called again after a throttling error (at most ``attempts`` calls)."""
    sleep = sleep or time.sleep
    for n in range(attempts):
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            if not is_throttling(exc) or n == attempts - 1:
                raise
            sleep(random.uniform(0.0, min(cap, base * 2**n)))  # noqa: S311 (jitter, not crypto)
    raise AssertionError("unreachable")  # pragma: no cover


def client_config(pool: int = 10, max_attempts: int = 10) -> Any:
    """A botocore ``Config``: ``standard`` retries (throttling and transient errors, with
    jittered backoff) and a connection pool as large as the threads that share the client."""
    from botocore.config import Config  # noqa: PLC0415

    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max(10, pool),
    )
