"""Parsing LAMMPS input scripts into a resumable plan (no LAMMPS needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmpspot.script import (
    Kind,
    RunSpec,
    ScriptError,
    logical_lines,
    parse_run,
    parse_script,
    resume_text,
    split_words,
)

HEAD = """units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
"""


def write(tmp_path: Path, body: str, name: str = "in.test") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("fix 1 all nve", ["fix", "1", "all", "nve"]),
        ('print "hello world"', ["print", "hello world"]),
        ("print 'a b' c", ["print", "a b", "c"]),
        ('print """x y"""', ["print", "x y"]),
        ("variable a equal 2*${b}", ["variable", "a", "equal", "2*${b}"]),
    ],
)
def test_split_words(line, words):
    assert split_words(line) == words


def test_logical_lines_join_continuations_and_strip_comments():
    text = "fix 1 all npt temp 1 1 0.5 &\n   iso 1 1 5   # barostat\n\n# only a comment\nrun 10\n"
    assert logical_lines(text) == [(1, "fix 1 all npt temp 1 1 0.5 iso 1 1 5"), (5, "run 10")]


def test_hash_inside_quotes_is_not_a_comment():
    assert logical_lines('print "a # b"  # c\n') == [(1, 'print "a # b"')]


@pytest.mark.parametrize(
    ("words", "spec"),
    [
        (["run", "100"], RunSpec("100")),
        (["run", "500", "upto"], RunSpec("500", upto=True)),
        (["run", "${n}", "start", "0", "stop", "1000"], RunSpec("${n}", start="0", stop="1000")),
        (["run", "10", "pre", "no", "post", "no"], RunSpec("10", pre=False, post=False)),
    ],
)
def test_parse_run(words, spec):
    assert parse_run(words, "x:1") == spec


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("fix 1 all nve", Kind.SETTING),
        ("unfix 1", Kind.SETTING),
        ("compute t all temp", Kind.SETTING),
        ("kspace_style pppm 1e-4", Kind.SETTING),
        ("variable T equal 1.5", Kind.SETTING),
        ("thermo_style custom step pe", Kind.SETTING),
        ("velocity all create 1.0 12345", Kind.STATE),
        ("reset_timestep 0", Kind.STATE),
        ("displace_atoms all move 0 0 1", Kind.STATE),
        ("set type 1 charge 0.5", Kind.STATE),
        ("write_data out.data", Kind.ONCE),
        ("print hello", Kind.ONCE),
        ("group mobile type 1", Kind.GROUP),
        ("dump d all atom 100 d.lammpstrj", Kind.DUMP),
        ("log other.log", Kind.LOG),
        ("run 100", Kind.RUN),
        ("minimize 1e-4 1e-6 100 1000", Kind.MINIMIZE),
    ],
)
def test_classification(tmp_path, command, kind):
    plan = parse_script(write(tmp_path, HEAD + command + "\nrun 10\n"))
    cmd = plan.commands[len(HEAD.splitlines())]
    assert cmd.text == command
    assert cmd.kind is kind


def test_multi_stage_plan(tmp_path):
    body = HEAD + (
        "minimize 1e-4 1e-6 100 1000\nreset_timestep 0\nfix 1 all nvt temp 1 1 0.5\nrun 1000\n"
        "unfix 1\nfix 2 all npt temp 1 1 0.5 iso 1 1 5\nrun 1000\nunfix 2\nfix 3 all nve\nrun 5000\n"
    )
    plan = parse_script(write(tmp_path, body))
    assert [s.kind for s in plan.stages] == ["minimize", "run", "run", "run"]
    assert [s.name for s in plan.stages] == ["minimize0", "run1-nvt", "run2-npt", "run3-nve"]
    assert plan.commands[plan.create_index].name == "create_box"
    assert all(plan.commands[s.command].stage == s.index for s in plan.stages)
    assert not plan.bitwise_restartable  # fix npt


def test_bitwise_restartable(tmp_path):
    assert parse_script(write(tmp_path, HEAD + "fix 1 all nve\nrun 10\n")).bitwise_restartable
    lang = HEAD + "fix 1 all nve\nfix 2 all langevin 1 1 1 42\nrun 10\n"
    assert not parse_script(write(tmp_path, lang)).bitwise_restartable


def test_include_is_inlined_and_hashed(tmp_path):
    (tmp_path / "settings.in").write_text("fix 1 all nve\n")
    plan = parse_script(write(tmp_path, HEAD + "include settings.in\nrun 10\n"))
    assert any(c.text == "fix 1 all nve" and c.source == "settings.in" for c in plan.commands)
    assert tmp_path / "settings.in" in plan.input_files
    h1 = plan.input_hash()
    (tmp_path / "settings.in").write_text("fix 1 all nve # changed\n")
    assert parse_script(tmp_path / "in.test").input_hash() != h1


def test_input_hash_covers_data_file_and_vars(tmp_path):
    (tmp_path / "data.x").write_text("data v1\n")
    body = "units lj\natom_style atomic\nread_data data.x\nfix 1 all nve\nrun 10\n"
    plan = parse_script(write(tmp_path, body))
    assert plan.input_files == [tmp_path / "data.x"]
    h1 = plan.input_hash()
    assert plan.input_hash({"T": ["1.0"]}) != h1
    (tmp_path / "data.x").write_text("data v2\n")
    assert plan.input_hash() != h1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("label loop\nrun 10\njump SELF loop\n", "'label' is not supported: jump/label loops"),
        ("run 10\njump SELF", "'jump' is not supported"),
        ("variable i loop 3\nnext i\nrun 10\n", "'next' is not supported"),
        ("run 100 every 10 NULL\n", "'run ... every'"),
        ("rerun dump.x dump x y z\nrun 10\n", "'rerun' is not supported"),
        ("clear\nrun 10\n", "'clear' is not supported"),
        ("python f here 'x'\nrun 10\n", "'python' is not supported"),
        ("temper 100 10 1.0 t 1 1\n", "multi-replica"),
        ('if "${a} > 1" then "run 10"\nrun 10\n', "'if' may only contain settings"),
        ('if "${a} > 1" then "jump SELF x"\nrun 10\n', "'if' may only contain settings"),
        ("timer timeout 1:00:00\nrun 10\n", "'timer timeout'"),
        ("include ${file}\nrun 10\n", "'include' needs one literal file name"),
        ("include missing.in\nrun 10\n", "included file missing.in not found"),
        ("shell cd /tmp\nrun 10\n", "'shell cd'"),
        ("frobnicate 1 2\nrun 10\n", "command 'frobnicate' is not supported"),
        ("fix 1 all nve\n", "no run or minimize command"),
        ("read_data other.data\nrun 10\n", "the system is defined twice"),
        ("minimize 1e-4\n", "'minimize' needs etol ftol maxiter maxeval"),
        ("run 10 upto foo\n", "unknown 'run' keyword"),
        ('print """a\nb"""\nrun 10\n', "multi-line triple-quoted"),
    ],
)
def test_rejected_forms(tmp_path, body, message):
    with pytest.raises(ScriptError, match=message.replace("(", r"\(").replace(".", r"\.")) as e:
        parse_script(write(tmp_path, HEAD + body))
    assert "in.test:" in str(e.value)


def test_run_before_system_is_rejected(tmp_path):
    with pytest.raises(ScriptError, match="'run' before the system is defined"):
        parse_script(write(tmp_path, "units lj\nrun 10\n"))


def test_if_with_settings_only_is_accepted(tmp_path):
    plan = parse_script(
        write(tmp_path, HEAD + 'if "${a} > 1" then "fix 1 all nve" else "fix 1 all nvt temp 1 1 1"\nrun 10\n')
    )
    assert plan.commands[-2].kind is Kind.SETTING


def test_missing_script(tmp_path):
    with pytest.raises(ScriptError, match="does not exist"):
        parse_script(tmp_path / "nope.in")


@pytest.mark.parametrize(
    ("command", "step", "expected"),
    [
        ("log run.log", 500, ["log run.log append"]),
        ("log run.log append", 500, ["log run.log append"]),
        (
            "dump d all custom 100 traj.dump id x y z",
            500,
            [
                "dump d all custom 100 traj.dump id x y z",
                "dump_modify d append yes",
                "dump_modify d delay 501",
            ],
        ),
        (
            "dump d all atom 100 snap.*.dump",
            500,
            ["dump d all atom 100 snap.*.dump", "dump_modify d delay 501"],
        ),
        (
            "fix a all ave/time 10 1 10 c_t file t.dat",
            0,
            ["fix a all ave/time 10 1 10 c_t append t.dat"],
        ),
        ('fix p all print 100 "T = $t" file p.txt', 0, ['fix p all print 100 "T = $t" append p.txt']),
        ("fix 1 all nve", 0, ["fix 1 all nve"]),
    ],
)
def test_resume_text(tmp_path, command, step, expected):
    plan = parse_script(write(tmp_path, HEAD + command + "\nrun 10\n"))
    cmd = plan.commands[len(HEAD.splitlines())]
    assert resume_text(cmd, step) == expected
