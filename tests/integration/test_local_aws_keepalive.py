"""The local AWS keeps connections open, as S3 does (``lmpspot_local.moto_server``).

Against the session's local AWS (started by ``local_aws.start``, as the play starts it):
a boto3 client's requests -- objects written, read, read again conditionally (304),
HEAD, a missing key (404), a 32-thread burst, a multipart upload -- ride far fewer TCP
connections than requests; and on one raw connection, every kind of response that has
no body or an unusual one (HEAD, 304, an error before the body was read, a chunked
request body, ``Expect: 100-continue``) leaves the connection able to carry the next
request.  The server still closes when asked to.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3.util.connection
from ansible_collections.lmpspot.local.plugins.module_utils import local_aws
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from conftest import CA_BUNDLE

pytestmark = pytest.mark.integration

BUCKET = "keepalive-test"


@pytest.fixture
def connections(monkeypatch):
    """How many TCP connections urllib3 (under botocore) opens."""
    opened = [0]
    lock = threading.Lock()
    real = urllib3.util.connection.create_connection

    def counting(*args, **kwargs):
        with lock:
            opened[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    return opened


@pytest.fixture
def s3(aws):
    c = aws.client("s3")
    c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return c


def test_the_local_aws_runs_the_keepalive_server(moto_server):
    assert local_aws.find_moto_server()[-2:] == ["-m", local_aws.KEEPALIVE_SERVER]


def test_boto3_requests_reuse_one_connection(aws, s3, connections):
    c = aws.client("s3")  # a fresh client: its pool starts empty
    before = connections[0]
    for i in range(20):
        key = f"k/{i}"
        etag = c.put_object(Bucket=BUCKET, Key=key, Body=f"body {i}".encode())["ETag"]
        assert c.get_object(Bucket=BUCKET, Key=key)["Body"].read() == f"body {i}".encode()
        with pytest.raises(c.exceptions.ClientError) as unchanged:
            c.get_object(Bucket=BUCKET, Key=key, IfNoneMatch=etag)
        assert unchanged.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
        assert c.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(f"body {i}")
        with pytest.raises(c.exceptions.NoSuchKey):
            c.get_object(Bucket=BUCKET, Key=f"missing/{i}")
    assert c.list_objects_v2(Bucket=BUCKET, Prefix="k/")["KeyCount"] == 20
    # 101 requests, each kind of answer among them: one connection carried them all.
    assert connections[0] - before == 1


def test_32_threads_and_a_large_multipart_upload(aws, s3, connections):
    c = _client_with_pool(aws, 32)
    before = connections[0]
    for i in range(64):
        s3.put_object(Bucket=BUCKET, Key=f"t/{i}", Body=os.urandom(1024))

    def read(i: int) -> int:
        return len(c.get_object(Bucket=BUCKET, Key=f"t/{i % 64}")["Body"].read())

    with ThreadPoolExecutor(32) as pool:
        assert set(pool.map(read, range(640))) == {1024}
    opened = connections[0] - before
    assert opened <= 33, f"{opened} connections for 704 requests"

    data = os.urandom(70 * 1024 * 1024)  # a 64 MiB part and a small one
    cfg = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024)
    c.upload_fileobj(io.BytesIO(data), BUCKET, "big", Config=cfg)
    got = c.get_object(Bucket=BUCKET, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def _client_with_pool(aws, pool: int):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=aws.endpoint_url,
        region_name="us-east-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        verify=CA_BUNDLE,
        config=Config(max_pool_connections=pool),
    )


def _exchange(conn: http.client.HTTPSConnection, method: str, path: str, body=None, headers=None):
    """One signed request on ``conn``: (status, response, body, whether the same socket carried it)."""
    headers = dict(headers or {})
    url = f"https://{conn.host}:{conn.port}{path}"
    req = AWSRequest(method=method, url=url, headers={**headers, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials("testing", "testing"), "s3", "us-east-2").add_auth(req)
    sock = conn.sock
    chunked = headers.get("Transfer-Encoding") == "chunked"
    conn.request(method, path, body=body, headers=dict(req.headers.items()), encode_chunked=chunked)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp, data, sock is not None and conn.sock is sock


def test_every_kind_of_answer_leaves_the_connection_usable(aws, s3):
    etag = s3.put_object(Bucket=BUCKET, Key="obj", Body=b"0123456789" * 1000)["ETag"]
    ctx = ssl.create_default_context(cafile=CA_BUNDLE)
    conn = http.client.HTTPSConnection(aws.host, aws.port, context=ctx, timeout=30)
    try:
        status, resp, data, _ = _exchange(conn, "GET", f"/{BUCKET}/obj")
        assert (status, len(data)) == (200, 10_000)
        assert resp.getheader("Connection") is None  # HTTP/1.1: kept open
        steps = [
            ("HEAD", f"/{BUCKET}/obj", None, None, 200, b""),
            ("GET", f"/{BUCKET}/obj", None, {"If-None-Match": etag}, 304, b""),
            ("GET", f"/{BUCKET}/missing", None, None, 404, None),
            # a body the server turns down before reading it (no such bucket)
            ("PUT", "/no-such-bucket-here/k", b"x" * 300_000, None, 404, None),
            ("PUT", f"/{BUCKET}/chunked", iter([b"a" * 5000, b"b" * 7000]), {"Transfer-Encoding": "chunked"},
             200, b""),
            ("PUT", f"/{BUCKET}/expect", b"c" * 2_000_000, {"Expect": "100-continue"}, 200, b""),
            ("GET", f"/{BUCKET}/expect", None, {"Range": "bytes=0-9"}, 206, b"c" * 10),
            ("GET", f"/{BUCKET}/chunked", None, None, 200, b"a" * 5000 + b"b" * 7000),
        ]  # fmt: skip
        for method, path, body, headers, want, want_body in steps:
            status, _resp, data, same = _exchange(conn, method, path, body, headers)
            assert status == want, (method, path, data[:300])
            assert same, f"{method} {path} ({status}): the connection was not kept"
            if want_body is not None:
                assert data == want_body, (method, path)
        # Asked to close, it closes.
        status, resp, _data, _ = _exchange(conn, "GET", f"/{BUCKET}/obj", headers={"Connection": "close"})
        assert status == 200 and resp.getheader("Connection") == "close"
    finally:
        conn.close()
