# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM checks of the account audit (docs/AUDIT.md): policies granting everything on every
resource, roles nobody used for a long time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils import iam_policy
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import as_dt, finding


def check_policy_documents(docs: Iterable[tuple[str, str, Any]]) -> list:
    """``(resource, description, document)`` triples -> iam.star_policy findings."""
    out = []
    for resource, what, doc in docs:
        name = resource.rsplit("/", 1)[-1]
        flagged = iam_policy.star_statements(doc)
        if flagged:
            out.append(
                finding(
                    "iam.star_policy",
                    "critical",
                    resource,
                    f"{what} allows {iam_policy.star_reason(flagged[0])}",
                    "Replace it with the actions and resources the principal needs "
                    "(identity_job_role_extra_statements refuses * on *)",
                    name,
                )
            )
    return out


def check_unused_roles(roles: Iterable[Mapping[str, Any]], now: datetime, max_days: int) -> list:
    """Roles (GetRole shape) not used for ``max_days`` (never-used ones once that old)."""
    out = []
    for role in roles:
        last = as_dt((role.get("RoleLastUsed") or {}).get("LastUsedDate"))
        ref = last or as_dt(role.get("CreateDate"))
        if ref is None:
            continue
        idle = (now - ref).days
        if idle >= max_days:
            used = f"last used {last:%Y-%m-%d}" if last else "never used"
            out.append(
                finding(
                    "iam.unused_role",
                    "low",
                    role["Arn"],
                    f"role {role['RoleName']} is {used} ({idle} days >= audit_unused_role_days {max_days})",
                    "Delete the role if nothing needs it (teardown does for lmpspot's roles)",
                    role["RoleName"],
                )
            )
    return out
