"""lmpspot.aws.s3_bucket_inventory: the counts a teardown prints before deleting data."""

from __future__ import annotations

import pytest
from ansible_collections.lmpspot.aws.plugins.modules.s3_bucket_inventory import summarise


def v(key, size, latest=True):
    return {"Key": key, "Size": size, "IsLatest": latest}


def m(key, latest=True):
    return {"Key": key, "IsLatest": latest}


@pytest.mark.parametrize(
    ("versions", "markers", "expect"),
    [
        ([], [], {"objects": 0, "bytes": 0, "versions": 0, "noncurrent_bytes": 0, "delete_markers": 0}),
        (
            [v("checkpoints/a", 10), v("checkpoints/a", 7, latest=False), v("results/log", 3)],
            [],
            {"objects": 2, "bytes": 13, "versions": 3, "noncurrent_bytes": 7, "delete_markers": 0},
        ),
        # A key whose latest entry is a delete marker is not a current object, but its
        # version is still data that deleting the bucket loses.
        (
            [v("gone.txt", 5, latest=False), v("inputs/in.lj", 2)],
            [m("gone.txt")],
            {"objects": 1, "bytes": 2, "versions": 2, "noncurrent_bytes": 5, "delete_markers": 1},
        ),
        # An old delete marker under a newer version does not hide it.
        (
            [v("a", 4)],
            [m("a", latest=False)],
            {"objects": 1, "bytes": 4, "versions": 1, "noncurrent_bytes": 0, "delete_markers": 1},
        ),
    ],
    ids=["empty", "versions", "deleted-key", "old-marker"],
)
def test_counts(versions, markers, expect):
    out = summarise(versions, markers, "/", 10)
    assert {k: out[k] for k in expect} == expect


def test_prefixes_and_sample():
    versions = [
        v("checkpoints/s/1", 100),
        v("checkpoints/s/1", 50, latest=False),
        v("results/s/log", 9),
        v("top", 1),
    ]
    out = summarise(versions, [], "/", 2)
    assert out["prefixes"] == {
        "checkpoints/": {"objects": 1, "bytes": 100, "versions": 2},
        "results/": {"objects": 1, "bytes": 9, "versions": 1},
        "": {"objects": 1, "bytes": 1, "versions": 1},
    }
    assert out["sample"] == ["checkpoints/s/1", "results/s/log"]
