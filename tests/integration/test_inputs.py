"""lmpspot.inputs.fetch_inputs against a real S3 API (the local AWS)."""

from __future__ import annotations

import hashlib

import pytest

from lmpspot.inputs import InputChecksumError, fetch_inputs, main, parse_s3_url

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-inputs"


@pytest.fixture
def s3(aws):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return client


def test_fetch_verifies_and_skips_unchanged(s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="inputs/sim1/in.lj", Body=b"run 10\n", ChecksumAlgorithm="SHA256")
    data = b"LAMMPS data\n" * 100
    s3.put_object(
        Bucket=BUCKET,
        Key="inputs/sim1/data/melt.data",
        Body=data,
        Metadata={"lmpspot-sha256": hashlib.sha256(data).hexdigest()},
    )
    s3.put_object(Bucket=BUCKET, Key="inputs/sim1/notes.txt", Body=b"no checksum at all")
    s3.put_object(Bucket=BUCKET, Key="inputs/sim10/other", Body=b"another simulation")
    lines: list[str] = []
    got = fetch_inputs(s3, BUCKET, "inputs/sim1", tmp_path / "in", log=lines.append)
    assert sorted(p.relative_to(tmp_path / "in").as_posix() for p in got) == [
        "data/melt.data",
        "in.lj",
        "notes.txt",
    ]
    assert (tmp_path / "in" / "data" / "melt.data").read_bytes() == data
    assert sum("sha256 verified" in line for line in lines) == 2
    assert not (tmp_path / "in" / "other").exists()

    # Second fetch: nothing downloaded; a locally changed file is fetched again.
    (tmp_path / "in" / "in.lj").write_text("changed locally\n")
    lines.clear()
    fetch_inputs(s3, BUCKET, "inputs/sim1/", tmp_path / "in", log=lines.append)
    assert sum("up to date" in line for line in lines) == 2, lines
    assert [line for line in lines if line.startswith("fetched")] == [
        f"fetched s3://{BUCKET}/inputs/sim1/in.lj -> {tmp_path / 'in' / 'in.lj'} (sha256 verified)"
    ]
    assert (tmp_path / "in" / "in.lj").read_bytes() == b"run 10\n"


def test_checksum_mismatch_leaves_nothing(s3, tmp_path):
    s3.put_object(
        Bucket=BUCKET,
        Key="inputs/bad/in.lj",
        Body=b"run 10\n",
        Metadata={"lmpspot-sha256": hashlib.sha256(b"something else").hexdigest()},
    )
    with pytest.raises(InputChecksumError, match="does not match"):
        fetch_inputs(s3, BUCKET, "inputs/bad/", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli(s3, aws, tmp_path, monkeypatch):
    for k, v in aws.env.items():
        monkeypatch.setenv(k, v)
    s3.put_object(Bucket=BUCKET, Key="inputs/cli/in.lj", Body=b"run 1\n", ChecksumAlgorithm="SHA256")
    assert main([f"s3://{BUCKET}/inputs/cli/", str(tmp_path)]) == 0
    assert (tmp_path / "in.lj").read_bytes() == b"run 1\n"
    assert main([f"s3://{BUCKET}/inputs/missing/", str(tmp_path)]) == 2
    assert main(["inputs/cli", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://b/inputs/sim/", ("b", "inputs/sim/")),
        ("s3://b/inputs/sim", ("b", "inputs/sim/")),
        ("s3://b", ("b", "")),
    ],
)
def test_parse_s3_url(url, expected):
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize("url", ["inputs/sim", "s3:///x", "https://b/x"])
def test_parse_s3_url_refuses(url):
    with pytest.raises(ValueError):
        parse_s3_url(url)
