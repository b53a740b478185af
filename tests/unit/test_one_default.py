"""Every setting has one default.

A setting's default lives in one place: the defaults of the role that reads it or, when
more than one role reads it, ``roles/lmpspot_defaults/defaults/main/`` (every play lists
that role first). An inventory sets only what differs from that default. A role does not
restate a shared default with ``| default(...)``.

The lists below name the exceptions: deliberate ones with their reason, and the ones still
to be folded in (KNOWN_*), which may only shrink.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "roles" / "lmpspot_defaults" / "defaults" / "main"

# Inventory values equal to their default that are still kept there: the settings read by
# preflight or the audit that the compute and image roles own (not yet moved to the shared
# defaults), and those the plays read around their role (teardown, audit, the main job).
KNOWN_INVENTORY_REPEATS = {
    "compute_gpu_instance_types",
    "compute_gpus_per_job",
    "compute_max_vcpus",
    "compute_runnable_timeout_s",
    "compute_node_job_enabled",
    "compute_image_tag",
    "image_target",
    "image_gpu_accelerator",
    "image_gpu_arch",
    "image_gpu_precision",
    "registry_local_port",
    "bastion_operators",
    "bastion_instance_elastic_ip",
    "sim_hosts_count",
    "audit_report_dir",
    "audit_fail_severity",
    "plan_ns",
    "plan_price_mode",
    "plan_ns_per_day",
    "teardown_confirm",
    "teardown_delete_data",
    "teardown_sample_keys",
    "teardown_stop_local",
}
# Set to the same value in both inventories, with no default anywhere. Deliberate: each
# inventory's lmpspot_aws_environment is built from its region and state directory, and
# any play given the inventory uses it (not only the plays that load lmpspot_defaults).
KNOWN_SAME_IN_BOTH = {"lmpspot_region", "lmpspot_state_dir"}
# Roles that restate a shared default with | default(...): checkpoint_sync runs on the hosts
# (molecule converges it alone, without lmpspot_defaults); compute and submit are still to do.
KNOWN_RESTATING_ROLES = {"checkpoint_sync", "compute", "submit"}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _role_definitions() -> dict[str, list[tuple[str, object]]]:
    """Every top-level variable a role's defaults or vars give a value, by name."""
    out: dict[str, list[tuple[str, object]]] = defaultdict(list)
    roles = ROOT / "roles"
    for f in sorted(roles.glob("*/defaults/**/*.yml")) + sorted(roles.glob("*/vars/**/*.yml")):
        for k, v in _load(f).items():
            out[k].append((str(f.relative_to(ROOT)), v))
    return out


def _inventory(name: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in sorted((ROOT / "inventories" / name / "group_vars" / "all").glob("*.yml")):
        out.update(_load(f))
    return out


def _shared() -> dict[str, object]:
    out: dict[str, object] = {}
    for f in sorted(SHARED.glob("*.yml")):
        out.update(_load(f))
    return out


def test_a_setting_is_defined_by_one_role():
    twice = {k: [p for p, _ in v] for k, v in _role_definitions().items() if len(v) > 1}
    assert twice == {}, f"defined in more than one role's defaults/vars: {twice}"


def test_inventories_set_only_what_differs_from_the_default():
    defaults = {k: v[0][1] for k, v in _role_definitions().items()}
    repeats = {
        (inv, k)
        for inv in ("local", "aws")
        for k, v in _inventory(inv).items()
        if k in defaults and defaults[k] == v and k not in KNOWN_INVENTORY_REPEATS
    }
    assert repeats == set(), f"inventory values equal to the default (delete them): {sorted(repeats)}"


def test_known_inventory_repeats_only_shrink():
    defaults = {k: v[0][1] for k, v in _role_definitions().items()}
    still = {k for inv in ("local", "aws") for k, v in _inventory(inv).items() if defaults.get(k, v) == v}
    still &= defaults.keys()
    assert KNOWN_INVENTORY_REPEATS - still == set(), "no longer repeated: drop from KNOWN_INVENTORY_REPEATS"


def test_what_both_inventories_share_is_a_shared_default():
    local, aws = _inventory("local"), _inventory("aws")
    defined = _role_definitions()
    same = {k for k in local.keys() & aws.keys() if local[k] == aws[k] and k not in defined}
    move = sorted(same - KNOWN_SAME_IN_BOTH)
    assert move == [], f"the same in both inventories: move to {SHARED.relative_to(ROOT)}: {move}"
    assert KNOWN_SAME_IN_BOTH - same == set(), "no longer in both: drop them from KNOWN_SAME_IN_BOTH"


def test_no_role_restates_a_shared_default():
    shared = _shared()
    restated = []
    for f in sorted((ROOT / "roles").rglob("*")):
        role = f.relative_to(ROOT / "roles").parts[0]
        skip = KNOWN_RESTATING_ROLES | {"lmpspot_defaults"}
        if not f.is_file() or f.suffix not in {".yml", ".j2"} or role in skip:
            continue
        if "meta" in f.relative_to(ROOT / "roles").parts:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            for m in re.finditer(r"\b(\w+)\)? \| default\(", line):
                if m.group(1) in shared:
                    restated.append(f"{f.relative_to(ROOT)}:{n}: {m.group(1)}")
    assert restated == [], "restates a shared default (roles/lmpspot_defaults):\n" + "\n".join(restated)


def test_every_play_loads_the_shared_defaults_first():
    for f in sorted((ROOT / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(f.read_text()):
            if "hosts" not in play:
                continue
            roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles") or []]
            assert roles[:1] == ["lmpspot_defaults"], f"{f.name}: {play['name']!r}: lmpspot_defaults first"
