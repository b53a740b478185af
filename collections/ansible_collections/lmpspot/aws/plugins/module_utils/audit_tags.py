# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tag check of the account audit (docs/AUDIT.md): every project resource carries the
project tags (audit, status and teardown find lmpspot's resources by them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import finding, tag_dict


def check_tags(resources: Iterable[tuple], required: Mapping[str, str]) -> list:
    """``(kind, resource, tags[, name])``: each project resource must carry every required tag."""
    out = []
    for kind, resource, tags, *name in resources:
        have = tag_dict(tags)
        wrong = sorted(k for k, v in required.items() if have.get(k) != str(v))
        if wrong:
            out.append(
                finding(
                    "tags.missing",
                    "low",
                    resource,
                    f"{kind} {resource} lacks or differs in the project tags {', '.join(wrong)} "
                    f"(want {', '.join(f'{k}={required[k]}' for k in wrong)})",
                    "Re-run the play that owns it, or tag it (audit, status and teardown find "
                    "lmpspot's resources by these tags)",
                    (name[0] if name else None) or have.get("Name"),
                )
            )
    return out
