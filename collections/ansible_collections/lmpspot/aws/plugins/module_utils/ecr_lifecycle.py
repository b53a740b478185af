# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an ECR lifecycle policy would expire, computed from its rules.  Pure functions.

ECR's own preview (StartLifecyclePolicyPreview) is asynchronous and the local AWS does
not implement it; this evaluates a policy the way ECR documents it:

* Rules are taken in ``rulePriority`` order (lowest first).  Each image belongs to the
  FIRST rule whose tag selection matches it, whether or not that rule expires it: "an
  image that matches the tagging requirements of a rule cannot be expired by a rule with
  a lower priority".
* Tag selection: ``untagged`` (no tag), ``tagged`` with ``tagPrefixList`` (for every
  prefix, some tag starts with it) or ``tagPatternList`` (for every pattern, some tag
  matches it; ``*`` is the only wildcard), ``any``.
* ``imageCountMoreThan N``: the rule's images newest first (push time); all after the
  first N expire.  ``sinceImagePushed N days``: images pushed more than N days ago expire.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_UNITS = {"days": 1}


class LifecyclePolicyError(ValueError):
    """The policy is not a valid ECR lifecycle policy (message names the rule)."""


def _pattern(p: str):
    return re.compile("^" + ".*".join(re.escape(part) for part in p.split("*")) + "$")


def _when(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    text = str(value).strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _selects(selection: dict, tags: list) -> bool:
    status = selection.get("tagStatus")
    if status == "any":
        return True
    if status == "untagged":
        return not tags
    if status == "tagged":
        if not tags:
            return False
        if selection.get("tagPrefixList"):
            return all(any(t.startswith(p) for t in tags) for p in selection["tagPrefixList"])
        if selection.get("tagPatternList"):
            pats = [_pattern(p) for p in selection["tagPatternList"]]
            return all(any(p.match(t) for t in tags) for p in pats)
    raise LifecyclePolicyError(f"unsupported selection {selection!r}")


def check_policy(policy: dict) -> list:
    """The policy's rules sorted by priority, after checking what ECR would refuse."""
    if not isinstance(policy, dict) or not isinstance(policy.get("rules"), list) or not policy["rules"]:
        raise LifecyclePolicyError("a lifecycle policy is a mapping with a non-empty 'rules' list")
    rules = sorted(policy["rules"], key=lambda r: int(r.get("rulePriority", 0)))
    prios = [int(r.get("rulePriority", 0)) for r in rules]
    if len(set(prios)) != len(prios) or min(prios) < 1:
        raise LifecyclePolicyError(f"rulePriority values must be unique integers >= 1, got {prios}")
    for r in rules:
        sel = r.get("selection") or {}
        where = f"rule {r.get('rulePriority')}"
        if sel.get("tagStatus") not in ("tagged", "untagged", "any"):
            raise LifecyclePolicyError(f"{where}: tagStatus must be tagged, untagged or any")
        if sel["tagStatus"] == "tagged" and not (sel.get("tagPrefixList") or sel.get("tagPatternList")):
            raise LifecyclePolicyError(f"{where}: tagStatus tagged needs tagPrefixList or tagPatternList")
        if sel["tagStatus"] == "any" and r is not rules[-1]:
            raise LifecyclePolicyError(f"{where}: a tagStatus any rule must have the highest rulePriority")
        if sel.get("countType") not in ("imageCountMoreThan", "sinceImagePushed"):
            raise LifecyclePolicyError(f"{where}: countType must be imageCountMoreThan or sinceImagePushed")
        if sel["countType"] == "sinceImagePushed" and sel.get("countUnit", "days") not in _UNITS:
            raise LifecyclePolicyError(f"{where}: countUnit must be days")
        if int(sel.get("countNumber", 0)) < 1:
            raise LifecyclePolicyError(f"{where}: countNumber must be >= 1")
        if (r.get("action") or {}).get("type", "expire") != "expire":
            raise LifecyclePolicyError(f"{where}: the only action is expire")
    return rules


def expiring(policy: dict, images: list, now=None) -> list:
    """Images the policy expires: dicts ``{digest, tags, pushed_at, rule, reason}``.

    ``images``: dicts with ``digest``, ``tags`` (list) and ``pushed_at`` (ISO 8601 string,
    datetime or epoch seconds).  ``now`` defaults to the current time (UTC).
    """
    rules = check_policy(policy)
    now = _when(now) if now is not None else datetime.now(timezone.utc)
    claimed = {int(r["rulePriority"]): [] for r in rules}
    for img in images:
        tags = list(img.get("tags") or [])
        for r in rules:
            if _selects(r["selection"], tags):
                claimed[int(r["rulePriority"])].append({**img, "tags": tags, "_at": _when(img["pushed_at"])})
                break
    out = []
    for r in rules:
        sel, prio = r["selection"], int(r["rulePriority"])
        mine = sorted(claimed[prio], key=lambda i: i["_at"], reverse=True)
        n = int(sel["countNumber"])
        if sel["countType"] == "imageCountMoreThan":
            gone = [(i, f"beyond the newest {n} images of rule {prio}") for i in mine[n:]]
        else:
            limit = now - timedelta(days=n)
            gone = [(i, f"pushed more than {n} days ago (rule {prio})") for i in mine if i["_at"] < limit]
        for img, why in gone:
            out.append(
                {
                    "digest": img.get("digest", ""),
                    "tags": img["tags"],
                    "pushed_at": img["_at"].isoformat(),
                    "rule": prio,
                    "reason": why,
                }
            )
    return out
