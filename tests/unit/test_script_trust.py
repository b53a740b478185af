"""Input scripts are untrusted: commands that run arbitrary code are refused by default."""

from __future__ import annotations

import pytest

from lmpspot.script import ScriptError, parse_script, unsafe_reason

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


@pytest.mark.parametrize(
    ("body", "word", "lineno"),
    [
        ("shell touch pwned\nrun 10\n", "shell", 10),
        ("run 10\nshell curl http://169.254.169.254/\n", "shell", 11),
        ("plugin load ./evil.so\nrun 10\n", "plugin", 10),
        ("plugin list\nrun 10\n", "plugin", 10),
        ('if "1 > 0" then "plugin load ./evil.so"\nrun 10\n', "plugin", 10),
        ("fix 9 all python/invoke 10 end_of_step f\nrun 10\n", "fix", 10),
        ("variable v python f\nrun 10\n", "variable", 10),
    ],
)
def test_unsafe_commands_are_refused_by_default(tmp_path, body, word, lineno):
    script = tmp_path / "in.test"
    script.write_text(HEAD + body)
    with pytest.raises(ScriptError) as e:
        parse_script(script)
    msg = str(e.value)
    assert f"in.test:{lineno}: '{word}' is refused" in msg  # where
    assert "untrusted" in msg  # why
    assert "--allow-unsafe-commands" in msg and "submit_allow_unsafe_commands" in msg  # how to opt in


@pytest.mark.parametrize(
    "body",
    [
        "shell touch marker\nrun 10\n",
        "plugin list\nrun 10\n",
        'if "1 > 0" then "plugin list"\nrun 10\n',
    ],
)
def test_unsafe_commands_pass_with_the_opt_in(tmp_path, body):
    script = tmp_path / "in.test"
    script.write_text(HEAD + body)
    plan = parse_script(script, allow_unsafe=True)
    assert plan.stages


def test_unsafe_in_an_include_is_refused_with_the_included_file_and_line(tmp_path):
    (tmp_path / "setup.in").write_text("print hi\nshell rm -rf /work\n")
    script = tmp_path / "in.test"
    script.write_text(HEAD + "include setup.in\nrun 10\n")
    with pytest.raises(ScriptError, match=r"setup\.in:2: 'shell' is refused"):
        parse_script(script)


@pytest.mark.parametrize(
    ("words", "unsafe"),
    [
        (["shell", "ls"], True),
        (["plugin", "load", "x.so"], True),
        (["pair_style", "python", "2.5"], True),
        (["pair_style", "hybrid", "lj/cut", "2.5", "python", "2.5"], True),
        (["fix", "1", "all", "python/move", "py.f"], True),
        (["variable", "a", "python", "f"], True),
        (["pair_style", "lj/cut", "2.5"], False),
        (["fix", "1", "all", "nve"], False),
        (["variable", "a", "equal", "python"], False),
        (["print", "shell"], False),
        ([], False),
    ],
)
def test_unsafe_reason_table(words, unsafe):
    assert (unsafe_reason(words) is not None) is unsafe
