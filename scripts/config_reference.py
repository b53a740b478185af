#!/usr/bin/env python3
"""Generate docs/CONFIGURATION.md: every inventory setting and every role input.

Sources (the authoritative ones, so the reference cannot drift from the code):

* ``roles/lmpspot_defaults/defaults/main/*.yml``: the shared defaults (every play loads
  them), each with the comment block above it and its value;
* ``inventories/{local,aws}/group_vars/all/*.yml``: each top-level variable, the comment
  block above it, and its value in each inventory (what differs from the shared defaults);
* ``roles/*/meta/argument_specs.yml``: each role's options with type, default and
  description.

``python scripts/config_reference.py`` rewrites the file; ``--check`` exits 1 when the
committed file differs from what the sources give (a unit test runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "CONFIGURATION.md"
TOP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(.*)$")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _value(v: object) -> str:
    if isinstance(v, (dict, list)):
        s = yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
    else:
        s = "" if v is None else str(v)
    s = _cell(s)
    if len(s) > 90:
        kind = "a long value"
        if isinstance(v, list):
            kind = f"a list of {len(v)}"
        elif isinstance(v, dict):
            kind = "a mapping"
        return f"({kind}; see the file)"
    return f"`{s}`" if s else "(empty)"


def inventory_vars(path: Path) -> list[tuple[str, str]]:
    """(name, comment) of every top-level variable of a group_vars file, in file order."""
    out: list[tuple[str, str]] = []
    comment: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        m = TOP.match(line)
        if m:
            out.append((m.group(1), " ".join(c for c in comment if c)))
            comment = []
        elif not line.strip() or line.strip() == "---":
            if not line.strip():
                comment = comment if comment else []
        # continuation lines of a value keep the pending comment cleared
        elif not line.startswith(" "):
            comment = []
    return out


def inventory_section() -> list[str]:
    local_dir = REPO / "inventories" / "local" / "group_vars" / "all"
    aws_dir = REPO / "inventories" / "aws" / "group_vars" / "all"
    files = sorted({p.name for p in local_dir.glob("*.yml")} | {p.name for p in aws_dir.glob("*.yml")})
    lines = [
        "## Inventory settings",
        "",
        "One file per concern in `inventories/<env>/group_vars/all/`. The description is the",
        "comment above the variable in the local inventory (or the aws one); the values are",
        "each inventory's own. Jinja expressions are shown as written.",
        "",
    ]
    for name in files:
        lp, ap = local_dir / name, aws_dir / name
        local = yaml.safe_load(lp.read_text()) if lp.exists() else {}
        aws = yaml.safe_load(ap.read_text()) if ap.exists() else {}
        local, aws = local or {}, aws or {}
        comments: dict[str, str] = {}
        order: list[str] = []
        for p in (lp, ap):
            if p.exists():
                for var, com in inventory_vars(p):
                    if var not in order:
                        order.append(var)
                    if com and not comments.get(var):
                        comments[var] = com
        lines += [f"### `{name}`", "", "| setting | local | aws | description |", "|---|---|---|---|"]
        for var in order:
            lv = _value(local[var]) if var in local else "-"
            av = _value(aws[var]) if var in aws else "-"
            lines.append(f"| `{var}` | {lv} | {av} | {_cell(comments.get(var, ''))} |")
        lines.append("")
    return lines


def shared_section() -> list[str]:
    base = REPO / "roles" / "lmpspot_defaults" / "defaults" / "main"
    lines = [
        "## Shared defaults",
        "",
        "The settings more than one role reads, once, in `roles/lmpspot_defaults/defaults/main/`",
        "(every play lists that role first). An inventory overrides one by setting it in its",
        "`group_vars/all/`; the inventory settings below are those overrides and the settings",
        "that differ between the two inventories.",
        "",
    ]
    for path in sorted(base.glob("*.yml")):
        values = yaml.safe_load(path.read_text()) or {}
        lines += [f"### `{path.name}`", "", "| setting | default | description |", "|---|---|---|"]
        for var, com in inventory_vars(path):
            lines.append(f"| `{var}` | {_value(values[var])} | {_cell(com)} |")
        lines.append("")
    return lines


def roles_section() -> list[str]:
    lines = [
        "## Role inputs",
        "",
        "From each role's `meta/argument_specs.yml` (Ansible validates them when the role",
        "runs; `ansible-doc -t role -r roles <role>` renders the same). Inputs without a",
        "default here usually take it from the inventory settings above.",
        "",
    ]
    for spec_path in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        role = spec_path.parent.parent.name
        spec = (yaml.safe_load(spec_path.read_text()) or {}).get("argument_specs", {})
        for entry, body in spec.items():
            title = f"`{role}`" if entry == "main" else f"`{role}` (`tasks_from: {entry}`)"
            short = _cell(body.get("short_description", ""))
            lines += [f"### {title}", "", short, ""] if short else [f"### {title}", ""]
            opts = body.get("options") or {}
            if not opts:
                lines += ["(no inputs)", ""]
                continue
            lines += ["| input | type | default | description |", "|---|---|---|---|"]
            for name, o in opts.items():
                typ = o.get("type", "str")
                if typ == "list" and o.get("elements"):
                    typ = f"list of {o['elements']}"
                if o.get("choices"):
                    typ += " (" + ", ".join(str(c) for c in o["choices"]) + ")"
                default = "-"
                if o.get("required"):
                    default = "required"
                elif "default" in o:
                    default = _value(o.get("default"))
                desc = o.get("description", "")
                desc = " ".join(desc) if isinstance(desc, list) else desc
                lines.append(f"| `{name}` | {_cell(typ)} | {default} | {_cell(desc)} |")
            lines.append("")
    return lines


def render() -> str:
    head = [
        "# Configuration reference",
        "",
        "Generated by `scripts/config_reference.py` from the shared defaults, the inventories and",
        "the roles' argument specs; do not edit by hand (a unit test fails when it is stale: run",
        "`.venv/bin/python scripts/config_reference.py`).",
        "",
    ]
    return "\n".join(head + shared_section() + inventory_section() + roles_section()).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/CONFIGURATION.md is stale")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(REPO)} is stale: run scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
