"""lmpspot.inputs.fetch_inputs against a real S3 API (the local AWS)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


TINY_LJ = """\
units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.44 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
fix 1 all nve
thermo 50
run 200
"""


def _lmpspot_run(aws, tmp_path, *extra, env=None):
    import os
    import subprocess
    import sys
    from pathlib import Path

    venv = Path(sys.executable).parent.parent
    full_env = {**os.environ, **aws.env, "LD_LIBRARY_PATH": str(venv / "lib"), **(env or {})}
    cmd = [sys.executable, "-m", "lmpspot.cli", "run", str(tmp_path / "input" / "in.lj"), "--job-id", "sim-7"]
    cmd += ["--workdir", str(tmp_path / "work"), "--bucket", BUCKET, "--endpoint-url", aws.endpoint_url]
    cmd += ["--fetch-inputs", "--progress-every", "0", *extra]
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=300, check=False)


def test_run_fetches_its_inputs_then_runs(aws, s3, tmp_path):
    """`lmpspot run --fetch-inputs` (the job definition's command) pulls what submit uploaded."""
    s3.put_object(Bucket=BUCKET, Key="inputs/sim-7/in.lj", Body=TINY_LJ.encode(), ChecksumAlgorithm="SHA256")
    p = _lmpspot_run(aws, tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "input" / "in.lj").read_text() == TINY_LJ
    assert "fetched 1 input file(s)" in p.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="checkpoints/")["Contents"]]
    assert any(k.startswith("checkpoints/sim-7/ckpt-") for k in keys), keys
    # The outputs follow to results/<job>/: the whole LAMMPS log, as on the local disk.
    log = s3.get_object(Bucket=BUCKET, Key="results/sim-7/log.lammps")["Body"].read()
    assert log == (tmp_path / "work" / "log.lammps").read_bytes()
    assert b"Loop time" in log
    results = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="results/sim-7/")["Contents"]]
    assert not any("/checkpoints/" in k for k in results), results


def test_run_without_inputs_is_a_bad_input(aws, s3, tmp_path):
    p = _lmpspot_run(aws, tmp_path)
    assert p.returncode == 2, p.stderr
    assert "no inputs under s3://lmpspot-test-inputs/inputs/sim-7/" in p.stderr


def test_array_children_get_their_own_checkpoints(aws, s3, tmp_path):
    """Children of an array job share sim_id and inputs; checkpoints are per index and the
    index reaches the script as the LAMMPS variable array_index."""
    script = TINY_LJ.replace("run 200", 'print "sweep point ${array_index}"\nrun 200')
    s3.put_object(Bucket=BUCKET, Key="inputs/sim-7/in.lj", Body=script.encode(), ChecksumAlgorithm="SHA256")
    p = _lmpspot_run(aws, tmp_path, env={"AWS_BATCH_JOB_ARRAY_INDEX": "3"})
    assert p.returncode == 0, p.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="checkpoints/")["Contents"]]
    assert keys and all(k.startswith("checkpoints/sim-7-3/") for k in keys), keys
    assert "sweep point 3" in (tmp_path / "work" / "log.lammps").read_text()


DUMPING_LJ = TINY_LJ.replace("thermo 50\nrun 200", "thermo 1000\ndump d all atom 1000 traj.dump\nrun 30000")


def test_fresh_node_resume_keeps_earlier_outputs(aws, s3, tmp_path):
    """Attempt 2 on a fresh node (empty work directory) resumes from S3 and first restores
    attempt 1's outputs, so results/<job>/ ends with the whole dump and log -- the dump
    byte for byte what an uninterrupted run writes -- not just attempt 2's tail."""
    s3.put_object(
        Bucket=BUCKET, Key="inputs/sim-7/in.lj", Body=DUMPING_LJ.encode(), ChecksumAlgorithm="SHA256"
    )
    short = ("--interval", "0.2", "--allow-short-interval")
    first = _lmpspot_run(aws, tmp_path, *short, "--stop-after-checkpoints", "1")
    assert first.returncode == 75, first.stderr
    partial = s3.get_object(Bucket=BUCKET, Key="results/sim-7/traj.dump")["Body"].read()
    shutil.rmtree(tmp_path / "work")  # a fresh node: no local checkpoints, no outputs
    second = _lmpspot_run(aws, tmp_path, *short)
    assert second.returncode == 0, second.stderr
    assert "outputs: restored traj.dump" in second.stderr
    assert "outputs: restored log.lammps" in second.stderr

    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "in.lj").write_text(DUMPING_LJ)
    venv = Path(sys.executable).parent.parent
    plain = subprocess.run(
        [str(venv / "bin" / "lmp"), "-in", "in.lj", "-log", "none"],
        cwd=ref,
        env={**os.environ, "LD_LIBRARY_PATH": str(venv / "lib")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert plain.returncode == 0, plain.stderr
    final = s3.get_object(Bucket=BUCKET, Key="results/sim-7/traj.dump")["Body"].read()
    assert len(partial) < len(final)
    assert final == (ref / "traj.dump").read_bytes()
    log = s3.get_object(Bucket=BUCKET, Key="results/sim-7/log.lammps")["Body"].read().decode()
    # attempt 1's log, continued by attempt 2: each LAMMPS instance closes with its wall time
    assert log.count("Total wall time") == 2
    assert log.rstrip().splitlines()[-1].startswith("Total wall time")
    assert "Step" in log.split("Loop time")[0]  # attempt 1's thermo is still there
