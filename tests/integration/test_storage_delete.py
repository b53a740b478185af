"""storage_state=absent with storage_delete_data=true needs the bucket's name as well
(storage_delete_data_confirm), as teardown does: the storage play against the local AWS."""

from __future__ import annotations

import pytest
from conftest import run_playbook

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-local-results"


@pytest.fixture
def bucket_with_data(aws):
    res = run_playbook("playbooks/storage.yml", aws)
    assert res.rc == 0, res
    s3 = aws.client("s3")
    for v in (b"one", b"two"):
        s3.put_object(Bucket=BUCKET, Key="checkpoints/sim-1/step-1/restart.bin", Body=v)
    return s3


@pytest.mark.parametrize("confirm", [None, "", "yes", "lmpspot-local", "lmpspot-local-results-other"])
def test_delete_data_without_the_bucket_name_is_refused(aws, bucket_with_data, confirm):
    extra = {"storage_state": "absent", "storage_delete_data": True}
    if confirm is not None:
        extra["storage_delete_data_confirm"] = confirm
    res = run_playbook("playbooks/storage.yml", aws, extra_vars=extra)
    assert res.rc != 0, res
    assert f"confirm with -e storage_delete_data_confirm={BUCKET}" in res.stdout, res
    versions = bucket_with_data.list_object_versions(Bucket=BUCKET)["Versions"]
    assert len(versions) == 2  # every version still there


def test_delete_data_with_the_bucket_name_deletes_it(aws, bucket_with_data):
    extra = {"storage_state": "absent", "storage_delete_data": True, "storage_delete_data_confirm": BUCKET}
    res = run_playbook("playbooks/storage.yml", aws, extra_vars=extra)
    assert res.rc == 0, res
    assert BUCKET not in [b["Name"] for b in bucket_with_data.list_buckets()["Buckets"]]
