"""What submit uploads: only what the script references plus listed files, nothing hidden,
no link leading out of the directory (real files and links in a temporary directory)."""

from __future__ import annotations

import json
import os

import pytest

from lmpspot.script import ScriptError
from lmpspot.upload_set import UploadRefused, main, upload_set

SCRIPT = """units metal
read_data data/cu.data
include setup.in
pair_style eam/alloy
pair_coeff * * Cu.eam.alloy Cu
log log.lammps
run 10
"""


@pytest.fixture
def sim(tmp_path):
    d = tmp_path / "sim"
    (d / "data").mkdir(parents=True)
    (d / "data" / "cu.data").write_text("data")
    (d / "setup.in").write_text("molecule w water.mol\nvariable t file temps.txt\n")
    for name in ("Cu.eam.alloy", "water.mol", "temps.txt", "log.lammps", "notes.txt"):
        (d / name).write_text(name)
    for hidden in (".aws/credentials", ".ssh/id_rsa", ".git/config"):
        (d / hidden).parent.mkdir(parents=True, exist_ok=True)
        (d / hidden).write_text("secret")
    (d / ".env").write_text("TOKEN=x")
    (d / "passwd").symlink_to("/etc/passwd")
    (d / "in.cu").write_text(SCRIPT)
    return d


def test_only_referenced_files(sim):
    got = upload_set(sim / "in.cu")
    assert sorted(got.files) == [
        "Cu.eam.alloy", "data/cu.data", "in.cu", "setup.in", "temps.txt", "water.mol",
    ]  # fmt: skip
    assert set(got.files.values()) <= {p for p in sim.rglob("*")}


def test_listed_files_come_along(sim):
    got = upload_set(sim / "in.cu", ["notes.txt", str(sim / "data" / "cu.data")])
    assert "notes.txt" in got.files


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        (".aws/credentials", "dot-directory"),
        (".ssh/id_rsa", "dot-directory"),
        (".git/config", "dot-directory"),
        (".env", "dot-directory"),
        ("passwd", "symbolic link leading out"),
        ("../outside", "not a file in"),
        ("/etc/hostname", "not a file in"),
        ("missing.txt", "not a file in"),
        ("data", "not a file in"),
    ],
)
def test_listed_files_are_refused(sim, listed, message):
    (sim.parent / "outside").write_text("x")
    with pytest.raises(UploadRefused, match=message):
        upload_set(sim / "in.cu", [listed])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("variable k file .aws/credentials", "in.cu:1:.*dot-directory"),
        ("variable k file .ssh/id_rsa", "dot-directory"),
        ("variable k file passwd", "symbolic link leading out"),
        ("variable k file data/../.git/config", "dot-directory"),
    ],
)
def test_script_naming_a_hidden_file_or_an_escaping_link_is_refused(sim, line, message):
    (sim / "in.cu").write_text(line + "\n" + SCRIPT)
    with pytest.raises(UploadRefused, match=message):
        upload_set(sim / "in.cu")


def test_link_inside_the_directory_uploads_under_its_name(sim):
    (sim / "pot.eam").symlink_to("Cu.eam.alloy")
    (sim / "in.cu").write_text(SCRIPT.replace("Cu.eam.alloy", "pot.eam"))
    got = upload_set(sim / "in.cu")
    assert got.files["pot.eam"] == sim / "pot.eam"
    assert "Cu.eam.alloy" not in got.files


def test_referenced_file_outside_is_reported_not_uploaded(sim, tmp_path):
    (tmp_path / "shared.txt").write_text("x")
    (sim / "in.cu").write_text(f"variable v file {tmp_path / 'shared.txt'}\n" + SCRIPT)
    got = upload_set(sim / "in.cu")
    assert all(not rel.startswith("..") for rel in got.files)
    assert any("shared.txt is outside" in m for m in got.ignored)


def test_unsafe_script_is_refused_before_upload(sim):
    (sim / "in.cu").write_text("shell cat .aws/credentials\n" + SCRIPT)
    with pytest.raises(ScriptError, match="'shell' is refused"):
        upload_set(sim / "in.cu")


def test_command_line(sim, capsys):
    assert main([str(sim / "in.cu"), "--file", "notes.txt"]) == 0
    out = json.loads(capsys.readouterr().out)
    paths = [f["path"] for f in out["files"]]
    assert "notes.txt" in paths and not any(p.startswith(".") or "/." in p for p in paths)
    assert all(len(f["sha256"]) == 64 and os.path.isabs(f["src"]) for f in out["files"])
    assert main([str(sim / "in.cu"), "--file", ".ssh/id_rsa"]) == 2
    assert "refused" in capsys.readouterr().err
