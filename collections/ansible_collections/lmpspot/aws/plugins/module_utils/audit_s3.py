# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 checks of the account audit (docs/AUDIT.md): a bucket as the audit gathers it -> findings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import finding


def _statements(policy: Mapping[str, Any] | None) -> list:
    """A bucket policy's statements as a list (none for no policy)."""
    if not policy:
        return []
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else statements


def is_tls_only_policy(policy: Mapping[str, Any] | None) -> bool:
    """True when a Deny statement covers requests with aws:SecureTransport=false."""
    for st in _statements(policy):
        if st.get("Effect") != "Deny":
            continue
        for op, conds in (st.get("Condition") or {}).items():
            if op.lower() not in ("bool", "boolifexists"):
                continue
            for key, val in conds.items():
                vals = val if isinstance(val, list) else [val]
                if key.lower() == "aws:securetransport" and any(str(v).lower() == "false" for v in vals):
                    return True
    return False


def _public_policy(policy: Mapping[str, Any] | None) -> bool:
    for st in _statements(policy):
        principal = st.get("Principal")
        anyone = principal == "*" or (isinstance(principal, Mapping) and principal.get("AWS") in ("*", ["*"]))
        if st.get("Effect") == "Allow" and anyone and not st.get("Condition"):
            return True
    return False


PAB_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def check_bucket(bucket: Mapping[str, Any], project: bool) -> list:
    """One bucket as gathered by :func:`collect_buckets`.

    Project buckets: encryption, public access block, TLS-only policy, versioning.
    Every bucket: public through its ACL or policy while the public access block allows it.
    """
    name = bucket["name"]
    arn = f"arn:aws:s3:::{name}"
    out = []
    pab = bucket.get("public_access_block") or {}
    pab_full = all(pab.get(k) for k in PAB_KEYS)
    public_acl = any(
        g.get("Grantee", {}).get("URI") in _PUBLIC_GRANTEES for g in bucket.get("acl_grants", [])
    )
    if not pab_full and (public_acl or _public_policy(bucket.get("policy"))):
        out.append(
            finding(
                "s3.public_bucket",
                "critical",
                arn,
                f"bucket {name} is public ({'ACL' if public_acl else 'bucket policy'} grants everyone access "
                "and the public access block does not stop it)",
                "Turn on all four public access block settings (aws s3api put-public-access-block) "
                "and remove the public grant",
            )
        )
    if not project:
        return [{**f, "name": name} for f in out]
    if not bucket.get("encryption"):
        out.append(
            finding(
                "s3.encryption",
                "high",
                arn,
                f"bucket {name} has no default encryption",
                "Run playbooks/storage.yml (SSE-S3, or SSE-KMS with storage_kms_key_id)",
            )
        )
    if not pab_full:
        missing = [k for k in PAB_KEYS if not pab.get(k)]
        out.append(
            finding(
                "s3.public_access_block",
                "high",
                arn,
                f"bucket {name} public access block is incomplete (off: {', '.join(missing)})",
                "Run playbooks/storage.yml (all four settings on)",
            )
        )
    if not is_tls_only_policy(bucket.get("policy")):
        out.append(
            finding(
                "s3.tls_only_policy",
                "medium",
                arn,
                f"bucket {name} has no policy denying requests without TLS (aws:SecureTransport=false)",
                "Set storage_tls_only_policy: true and run playbooks/storage.yml",
            )
        )
    if bucket.get("versioning") != "Enabled":
        out.append(
            finding(
                "s3.versioning",
                "medium",
                arn,
                f"bucket {name} versioning is {bucket.get('versioning') or 'never enabled'}: an overwritten "
                "or deleted checkpoint cannot be recovered",
                "Run playbooks/storage.yml (versioning on)",
            )
        )
    return [{**f, "name": name} for f in out]
