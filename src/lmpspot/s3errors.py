"""What an S3 error means: the object is not there, or a conditional request lost.

One place for the codes botocore reports (a modelled ``NoSuchKey``, a bare ``404`` from
HeadObject, ``PreconditionFailed``/412, ``ConditionalRequestConflict``/409); everything
that reads S3 asks these two functions.
"""

from __future__ import annotations

from botocore.exceptions import ClientError


def is_precondition_failed(exc: BaseException) -> bool:
    """True for S3's 412 PreconditionFailed (and 409 ConditionalRequestConflict)."""
    if not isinstance(exc, ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (412, 409)


def is_not_found(exc: BaseException) -> bool:
    """True for NoSuchKey / 404."""
    if not isinstance(exc, ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("NoSuchKey", "404", "NotFound") or status == 404
