"""docs/CONFIGURATION.md is generated from the inventories and the roles' argument specs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "config_reference.py"


def test_configuration_reference_is_current():
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_every_inventory_setting_and_role_input_is_listed():
    text = (REPO / "docs" / "CONFIGURATION.md").read_text()
    for f in (REPO / "inventories").glob("*/group_vars/all/*.yml"):
        for name in yaml.safe_load(f.read_text()) or {}:
            assert f"| `{name}` |" in text, f"{f.relative_to(REPO)}: {name} missing"
    for spec in (REPO / "roles").glob("*/meta/argument_specs.yml"):
        for body in (yaml.safe_load(spec.read_text()) or {}).get("argument_specs", {}).values():
            for name in body.get("options") or {}:
                assert f"| `{name}` |" in text, f"{spec.relative_to(REPO)}: {name} missing"
