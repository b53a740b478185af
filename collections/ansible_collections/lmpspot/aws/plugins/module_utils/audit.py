# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only account audit behind ``lmpspot.aws.audit_account`` (docs/AUDIT.md).

Two layers, so each can be tested on its own:

* pure checks (``check_*``): described AWS data in the shapes boto3 returns -> findings;
* collectors (``collect_*``): boto3 clients -> that data -> the checks.  They only ever
  call ``Describe*``/``List*``/``Get*`` APIs.

A finding is a dict: ``id`` (the check, e.g. ``sg.open_ssh``), ``severity`` (one of
:data:`SEVERITIES`), ``resource`` (ARN, id or name), ``message``, ``fix``.
:func:`apply_waivers` moves the findings a documented config choice covers out of the
count; :func:`summarize` counts the rest against the fail threshold.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils import audit_resources, iam_policy
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_network import (
    check_network_drift,
    check_ssh_only_from,
)

SEVERITIES = ("info", "low", "medium", "high", "critical")
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
ALL_CHECKS = (
    "security_groups",
    "buckets",
    "imds",
    "ebs",
    "iam",
    "ecr",
    "tags",
    "batch",
    "drift",
)


def rank(severity: str) -> int:
    """Position of ``severity`` in :data:`SEVERITIES` (ValueError names the choices)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}") from None


def finding(
    check_id: str, severity: str, resource: str, message: str, fix: str, name: str | None = None
) -> dict[str, str]:
    """One finding; ``name`` (a Name tag or resource name, when known) lets a waiver match it."""
    rank(severity)
    out = {"id": check_id, "severity": severity, "resource": str(resource), "message": message, "fix": fix}
    if name:
        out["name"] = str(name)
    return out


def _as_dt(value: Any) -> datetime | None:
    """boto3 datetimes, epoch milliseconds (Batch) or ISO strings -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _tags(items: Iterable[Mapping[str, str]] | Mapping[str, str] | None) -> dict[str, str]:
    """[{Key, Value}] (EC2, IAM, S3), [{key, value}] / {k: v} (ECR, Batch) -> {k: v}."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for t in items:
        key = t.get("Key", t.get("key"))
        out[str(key)] = str(t.get("Value", t.get("value", "")))
    return out


# --------------------------------------------------------------------------- network


def _covers(perm: Mapping[str, Any], port: int) -> bool:
    if perm.get("IpProtocol") in ("-1", -1, "all"):
        return True
    if perm.get("IpProtocol") not in ("tcp", "6", 6):
        return False
    lo, hi = perm.get("FromPort"), perm.get("ToPort")
    if lo is None or hi is None:
        return True
    return int(lo) <= port <= int(hi)


def _port_text(perm: Mapping[str, Any]) -> str:
    if perm.get("IpProtocol") in ("-1", -1, "all"):
        return "all traffic"
    lo, hi = perm.get("FromPort"), perm.get("ToPort")
    ports = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{perm.get('IpProtocol')} {ports}"


def _wide(cidr: str, min_prefix: Mapping[int, int]) -> bool:
    """Wider than the minimum prefix length of its family, but not the whole internet."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return 0 < net.prefixlen < int(min_prefix.get(net.version, 0))


def check_security_groups(
    groups: Iterable[Mapping[str, Any]],
    admin_ports: Iterable[int] = (22, 3389),
    min_prefix: Mapping[int, int] | None = None,
) -> list:
    """Ingress from 0.0.0.0/0 or ::/0: on an admin port (SSH/RDP) critical, any other high.
    An admin port open to a range wider than ``min_prefix`` ({4: 16, 6: 48}, the network
    layer's network_ssh_min_prefix_ipv4/_ipv6; e.g. 0.0.0.0/1 + 128.0.0.0/1): high."""
    admin_ports = tuple(int(p) for p in admin_ports)
    min_prefix = {4: 16, 6: 48} if min_prefix is None else {int(k): int(v) for k, v in min_prefix.items()}
    out = []
    for sg in groups:
        gid = sg["GroupId"]
        label = f"{gid} ({sg.get('GroupName', '')}, {sg.get('VpcId', '-')})"
        for perm in sg.get("IpPermissions", []):
            ranges = [r["CidrIp"] for r in perm.get("IpRanges", []) if r.get("CidrIp")]
            ranges += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", []) if r.get("CidrIpv6")]
            opens = [c for c in ranges if c in OPEN_CIDRS]
            wide = [c for c in ranges if _wide(c, min_prefix)]
            admin = [p for p in admin_ports if _covers(perm, p)]
            if admin and wide:
                out.append(
                    finding(
                        "sg.wide_admin_port",
                        "high",
                        gid,
                        f"security group {label} allows {_port_text(perm)} (port "
                        f"{', '.join(map(str, admin))}) from {', '.join(wide)}, wider than "
                        f"/{min_prefix.get(4)} (IPv4) or /{min_prefix.get(6)} (IPv6)",
                        "Allow SSH only from your office or VPN ranges (network_ssh_allowed_cidrs; "
                        "network_ssh_min_prefix_ipv4/_ipv6) and revoke the rule",
                        sg.get("GroupName"),
                    )
                )
            if not opens:
                continue
            what = _port_text(perm)
            if admin:
                out.append(
                    finding(
                        "sg.open_admin_port",
                        "critical",
                        gid,
                        f"security group {label} allows {what} (port {', '.join(map(str, admin))}) "
                        f"from {', '.join(opens)}",
                        "Allow SSH only from known ranges (network_ssh_allowed_cidrs) and revoke the "
                        "rule: aws ec2 revoke-security-group-ingress",
                        sg.get("GroupName"),
                    )
                )
            else:
                out.append(
                    finding(
                        "sg.open_to_world",
                        "high",
                        gid,
                        f"security group {label} allows {what} from {', '.join(opens)}",
                        "Restrict the rule's source to the ranges that need it, or revoke it",
                        sg.get("GroupName"),
                    )
                )
    return out


# --------------------------------------------------------------------------- S3


def is_tls_only_policy(policy: Mapping[str, Any] | None) -> bool:
    """True when a Deny statement covers requests with aws:SecureTransport=false."""
    if not policy:
        return False
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    for st in statements:
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
    if not policy:
        return False
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    for st in statements:
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


# --------------------------------------------------------------------------- EC2


def check_instances_imds(instances: Iterable[Mapping[str, Any]]) -> list:
    out = []
    for inst in instances:
        if inst.get("State", {}).get("Name") in ("terminated", "shutting-down"):
            continue
        md = inst.get("MetadataOptions") or {}
        if md.get("HttpEndpoint", "enabled") == "enabled" and md.get("HttpTokens") != "required":
            out.append(
                finding(
                    "ec2.imdsv1_instance",
                    "high",
                    inst["InstanceId"],
                    f"instance {inst['InstanceId']} accepts IMDSv1 "
                    f"(HttpTokens={md.get('HttpTokens', 'unset')})",
                    "aws ec2 modify-instance-metadata-options --http-tokens required (and fix its "
                    "launch template or playbook)",
                    _tags(inst.get("Tags")).get("Name"),
                )
            )
    return out


def check_launch_templates(
    versions: Iterable[Mapping[str, Any]], batch_templates: Iterable[str] = ()
) -> list:
    """Launch template versions (the default and the latest of each template): IMDSv1, EBS
    block devices not marked encrypted, and -- for templates a Batch compute environment
    uses (``batch_templates``: ids or names) -- an IMDS hop limit above 1."""
    batch = set(batch_templates)
    out, seen = [], set()
    for v in versions:
        key = (v["LaunchTemplateId"], v.get("VersionNumber"))
        if key in seen:
            continue
        seen.add(key)
        data = v.get("LaunchTemplateData") or {}
        md = data.get("MetadataOptions") or {}
        res, lt = f"{v['LaunchTemplateId']}:{v.get('VersionNumber')}", v.get("LaunchTemplateName")
        if md.get("HttpEndpoint", "enabled") == "enabled" and md.get("HttpTokens") != "required":
            out.append(
                finding(
                    "ec2.imdsv1_launch_template",
                    "high",
                    res,
                    f"launch template {lt} version {v.get('VersionNumber')} allows "
                    f"IMDSv1 (HttpTokens={md.get('HttpTokens', 'unset')})",
                    "Create a version with MetadataOptions.HttpTokens=required and make it the default "
                    "(playbooks/compute.yml does for lmpspot's template)",
                    lt,
                )
            )
        hops = md.get("HttpPutResponseHopLimit") or 1
        if batch & {v["LaunchTemplateId"], lt} and int(hops) > 1:
            out.append(
                finding(
                    "ec2.batch_imds_hop_limit",
                    "high",
                    res,
                    f"launch template {lt} version {v.get('VersionNumber')} of a Batch compute "
                    f"environment lets containers reach IMDS (HttpPutResponseHopLimit={hops}): "
                    "every job can read the instance role's credentials",
                    "Create a version with MetadataOptions.HttpPutResponseHopLimit=1 "
                    "(playbooks/compute.yml does for lmpspot's template; the Spot notice reaches "
                    "jobs as SIGTERM from the host, docs/COMPUTE.md)",
                    lt,
                )
            )
        for bdm in data.get("BlockDeviceMappings", []):
            if "Ebs" in bdm and not bdm["Ebs"].get("Encrypted"):
                out.append(
                    finding(
                        "ebs.unencrypted_launch_template",
                        "high",
                        res,
                        f"launch template {lt} version {v.get('VersionNumber')} creates EBS volume "
                        f"{bdm.get('DeviceName')} without Encrypted=true",
                        "Create a version whose block device mappings set Encrypted=true",
                        lt,
                    )
                )
    return out


def check_volumes(volumes: Iterable[Mapping[str, Any]]) -> list:
    out = []
    for vol in volumes:
        if not vol.get("Encrypted"):
            attached = (
                ", ".join(a.get("InstanceId", "") for a in vol.get("Attachments", [])) or "not attached"
            )
            out.append(
                finding(
                    "ebs.unencrypted",
                    "high",
                    vol["VolumeId"],
                    f"EBS volume {vol['VolumeId']} ({vol.get('Size')} GiB, {attached}) is not encrypted",
                    "Snapshot it, copy the snapshot with encryption, replace the volume; turn on EBS "
                    "encryption by default (aws ec2 enable-ebs-encryption-by-default)",
                    _tags(vol.get("Tags")).get("Name"),
                )
            )
    return out


# --------------------------------------------------------------------------- IAM


def _listify(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def star_statements(document: Mapping[str, Any] | str | None) -> list[dict]:
    """Allow statements granting (nearly) everything on every resource (module_utils.iam_policy)."""
    return iam_policy.star_statements(document)


def check_policy_documents(docs: Iterable[tuple[str, str, Any]]) -> list:
    """``(resource, description, document)`` triples -> iam.star_policy findings."""
    out = []
    for resource, what, doc in docs:
        name = resource.rsplit("/", 1)[-1]
        flagged = star_statements(doc)
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
        last = _as_dt((role.get("RoleLastUsed") or {}).get("LastUsedDate"))
        ref = last or _as_dt(role.get("CreateDate"))
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


# --------------------------------------------------------------------------- ECR


def check_ecr_repository(repo: Mapping[str, Any], image_findings: Iterable[tuple[str, Mapping]]) -> list:
    """A repository (DescribeRepositories shape) and ``(image, findingSeverityCounts)`` pairs."""
    name, arn = repo["repositoryName"], repo.get("repositoryArn", repo["repositoryName"])
    out = []
    if not (repo.get("imageScanningConfiguration") or {}).get("scanOnPush"):
        out.append(
            finding(
                "ecr.scan_on_push",
                "medium",
                arn,
                f"repository {name} does not scan images on push",
                "Run playbooks/registry.yml (registry_scan_on_push: true) or "
                "aws ecr put-image-scanning-configuration --scan-on-push",
            )
        )
    if repo.get("imageTagMutability", "MUTABLE").startswith("MUTABLE"):
        out.append(
            finding(
                "ecr.mutable_tags",
                "medium",
                arn,
                f"repository {name} has mutable tags: a tag can be moved to another image",
                "Run playbooks/registry.yml (registry_image_tag_mutability: immutable)",
            )
        )
    for image, counts in image_findings:
        crit, high = int(counts.get("CRITICAL", 0)), int(counts.get("HIGH", 0))
        if crit or high:
            out.append(
                finding(
                    "ecr.image_vulnerabilities",
                    "critical" if crit else "high",
                    f"{arn}@{image}",
                    f"image {name}@{image} has {crit} CRITICAL and {high} HIGH vulnerabilities in its scan",
                    "Rebuild the image on patched packages (playbooks/image.yml) and delete the old one",
                )
            )
    return [{**f, "name": name} for f in out]


# --------------------------------------------------------------------------- tags


def check_tags(resources: Iterable[tuple], required: Mapping[str, str]) -> list:
    """``(kind, resource, tags[, name])``: each project resource must carry every required tag."""
    out = []
    for kind, resource, tags, *name in resources:
        have = _tags(tags)
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


# --------------------------------------------------------------------------- Batch


def _env(job: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in (job.get("container") or {}).get("environment", [])}


def check_runnable_jobs(jobs: Iterable[Mapping[str, Any]], now: datetime, max_age_s: int) -> list:
    """RUNNABLE jobs (DescribeJobs shape) waiting longer than ``max_age_s``.

    Batch does not say when a job became RUNNABLE: the wait counts from the later of its
    creation and its last attempt's stop (a retried job goes back to RUNNABLE then).
    """
    out = []
    for job in jobs:
        if job.get("status") != "RUNNABLE":
            continue
        since = [_as_dt(job.get("createdAt"))]
        since += [_as_dt((a or {}).get("stoppedAt")) for a in job.get("attempts", [])]
        ref = max(d for d in since if d is not None) if any(since) else None
        if ref is None:
            continue
        age = (now - ref).total_seconds()
        if age > max_age_s:
            out.append(
                finding(
                    "batch.stuck_runnable",
                    "medium",
                    job.get("jobArn", job["jobId"]),
                    f"job {job.get('jobName')} ({job['jobId']}) has been RUNNABLE for {age / 60:.0f} min "
                    f"(> audit_runnable_max_age_s {max_age_s} s): no capacity, or no environment fits it",
                    "Check the queue's compute environments (instance types, max vCPUs, Spot capacity); "
                    "the Spot queue's time limit resubmits starved jobs On-Demand",
                    job.get("jobName"),
                )
            )
    return out


def checkpoint_context(job: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Where a running job checkpoints, from its environment, with the config as fallback."""
    env = _env(job)
    params = job.get("parameters") or {}
    return {
        "sim_id": params.get("sim_id") or job["jobId"],
        "bucket": env.get("LMPSPOT_BUCKET") or defaults.get("bucket", ""),
        "prefix": env.get("LMPSPOT_CHECKPOINT_PREFIX") or defaults.get("prefix", "checkpoints/"),
        "interval": int(env.get("LMPSPOT_CHECKPOINT_INTERVAL") or defaults.get("interval", 600)),
    }


def check_checkpoint_age(
    jobs: Iterable[Mapping[str, Any]],
    newest_checkpoint: Callable[[str, str], datetime | None],
    defaults: Mapping[str, Any],
    now: datetime,
) -> list:
    """RUNNING jobs whose newest checkpoint (or attempt start) is older than 2x the interval.

    ``newest_checkpoint(bucket, prefix)`` gives the newest checkpoint manifest's time under
    ``s3://bucket/prefix`` (None without any).  A fresh attempt has until 2 intervals after
    its start to write its first checkpoint.
    """
    out = []
    for job in jobs:
        if job.get("status") != "RUNNING":
            continue
        ctx = checkpoint_context(job, defaults)
        prefix = f"{ctx['prefix'].rstrip('/')}/{ctx['sim_id']}/"
        ckpt = newest_checkpoint(ctx["bucket"], prefix) if ctx["bucket"] else None
        started = _as_dt(job.get("startedAt"))
        ref = max((d for d in (ckpt, started) if d is not None), default=None)
        if ref is None:
            continue
        age = (now - ref).total_seconds()
        if age > 2 * ctx["interval"]:
            last = f"newest checkpoint {ckpt:%Y-%m-%dT%H:%M:%SZ}" if ckpt else "no checkpoint yet"
            out.append(
                finding(
                    "batch.stale_checkpoint",
                    "high",
                    job.get("jobArn", job["jobId"]),
                    f"running job {job.get('jobName')} (sim {ctx['sim_id']}): {last} in "
                    f"s3://{ctx['bucket']}/{prefix}, {age / 60:.0f} min ago (> 2 x interval "
                    f"{ctx['interval']} s): a spot reclaim now would lose that work",
                    "Look at the job's log (lmpspot progress lines, S3 upload errors, a hung LAMMPS); "
                    "lmpspot checkpoints verify --bucket B --job SIM_ID",
                    job.get("jobName"),
                )
            )
    return out


# --------------------------------------------------------------------------- drift


def _drift(resource: str, what: str, want: Any, have: Any, fix: str) -> dict[str, str]:
    return finding(
        "drift.config",
        "medium",
        resource,
        f"{what}: config says {want!r}, the account has {have!r}",
        fix,
    )


def _missing(kind: str, name: str, play: str) -> dict[str, str]:
    return finding(
        "drift.missing", "high", name, f"{kind} {name} is in the config but not in the account", f"Run {play}"
    )


def check_drift(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list:
    """Config (``expected``, see docs/AUDIT.md) against what exists (``actual``).

    Compared: the VPC's CIDR; the results bucket's lifecycle rules (ID, status, days);
    each compute environment's instance types, max vCPUs and state (unless its ``state``
    is null); each queue's priority,
    environment order and state; each job definition's image repository (the tag moves
    with every image build and is not drift).
    """
    out = []
    vpc = expected.get("vpc")
    if vpc:
        have = actual.get("vpc")
        if have is None:
            out.append(_missing("VPC", vpc["name"], "playbooks/network.yml"))
        elif have.get("CidrBlock") != vpc["cidr"]:
            out.append(
                _drift(
                    have["VpcId"],
                    f"VPC {vpc['name']} CIDR",
                    vpc["cidr"],
                    have.get("CidrBlock"),
                    "A VPC's CIDR cannot change: set network_vpc_cidr back, or rebuild the network layer",
                )
            )
    bucket = expected.get("bucket")
    if bucket:
        have_rules = actual.get("lifecycle_rules")
        if have_rules is None:
            out.append(_missing("bucket", bucket["name"], "playbooks/storage.yml"))
        else:
            by_id = {r.get("ID"): r for r in have_rules}
            for rule in bucket.get("lifecycle_rules", []):
                got = by_id.get(rule["id"])
                if got is None or got.get("Status") != "Enabled":
                    out.append(
                        _drift(
                            bucket["name"],
                            f"bucket {bucket['name']} lifecycle rule {rule['id']}",
                            "Enabled",
                            got.get("Status") if got else "absent",
                            "Run playbooks/storage.yml",
                        )
                    )
                    continue
                days = _rule_days(got, rule["field"])
                if days != rule["days"]:
                    out.append(
                        _drift(
                            bucket["name"],
                            f"bucket {bucket['name']} lifecycle rule {rule['id']} {rule['field']}",
                            rule["days"],
                            days,
                            "Run playbooks/storage.yml",
                        )
                    )
    ces = {c["computeEnvironmentName"]: c for c in actual.get("compute_environments", [])}
    for want in expected.get("compute_environments", []):
        have = ces.get(want["name"])
        if have is None:
            out.append(_missing("compute environment", want["name"], "playbooks/compute.yml"))
            continue
        res = have.get("computeResources") or {}
        arn = have.get("computeEnvironmentArn", want["name"])
        if sorted(res.get("instanceTypes", [])) != sorted(want["instance_types"]):
            out.append(
                _drift(
                    arn,
                    f"compute environment {want['name']} instance types",
                    sorted(want["instance_types"]),
                    sorted(res.get("instanceTypes", [])),
                    "Run playbooks/compute.yml (compute_replace_environments: true if AWS cannot "
                    "change it in place)",
                )
            )
        if int(res.get("maxvCpus", -1)) != int(want["max_vcpus"]):
            out.append(
                _drift(
                    arn,
                    f"compute environment {want['name']} max vCPUs",
                    int(want["max_vcpus"]),
                    res.get("maxvCpus"),
                    "Run playbooks/compute.yml",
                )
            )
        # state: null skips it (the night window closes the environments on a schedule).
        want_state = want.get("state", "ENABLED")
        if want_state and have.get("state") != want_state:
            out.append(
                _drift(
                    arn,
                    f"compute environment {want['name']} state",
                    want_state,
                    have.get("state"),
                    "Run playbooks/compute.yml (or wait for the night window to open it)",
                )
            )
    queues = {q["jobQueueName"]: q for q in actual.get("job_queues", [])}
    for want in expected.get("job_queues", []):
        have = queues.get(want["name"])
        if have is None:
            out.append(_missing("job queue", want["name"], "playbooks/compute.yml"))
            continue
        arn = have.get("jobQueueArn", want["name"])
        order = [
            o["computeEnvironment"].rsplit("/", 1)[-1]
            for o in sorted(have.get("computeEnvironmentOrder", []), key=lambda o: o.get("order", 0))
        ]
        if order != list(want["compute_environments"]):
            out.append(
                _drift(
                    arn,
                    f"job queue {want['name']} environment order",
                    list(want["compute_environments"]),
                    order,
                    "Run playbooks/compute.yml",
                )
            )
        if int(have.get("priority", -1)) != int(want["priority"]):
            out.append(
                _drift(
                    arn,
                    f"job queue {want['name']} priority",
                    int(want["priority"]),
                    have.get("priority"),
                    "Run playbooks/compute.yml",
                )
            )
        if have.get("state") != "ENABLED":
            out.append(
                _drift(
                    arn,
                    f"job queue {want['name']} state",
                    "ENABLED",
                    have.get("state"),
                    "Run playbooks/compute.yml",
                )
            )
    jds = actual.get("job_definitions", {})
    for want in expected.get("job_definitions", []):
        have = jds.get(want["name"])
        if have is None:
            out.append(_missing("job definition", want["name"], "playbooks/compute.yml"))
            continue
        image = (have.get("containerProperties") or {}).get("image", "")
        repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        if want.get("image_repository") and repo != want["image_repository"]:
            out.append(
                _drift(
                    have.get("jobDefinitionArn", want["name"]),
                    f"job definition {want['name']} image repository",
                    want["image_repository"],
                    repo,
                    "Run playbooks/image.yml and playbooks/compute.yml",
                )
            )
    return out


def _rule_days(rule: Mapping[str, Any], field: str) -> int | None:
    if field == "noncurrent_days":
        return (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
    if field == "abort_multipart_days":
        return (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
    if field == "tiering_days":
        for t in rule.get("Transitions", []):
            if t.get("StorageClass") == "INTELLIGENT_TIERING":
                return t.get("Days")
        return None
    raise ValueError(f"unknown lifecycle field {field!r}")


# --------------------------------------------------------------------------- waivers, summary


def apply_waivers(findings: Iterable[Mapping], waivers: Iterable[Mapping]) -> tuple[list, list]:
    """Split findings into (counted, waived); a waiver matches ``id``, ``resource`` and ``name`` (globs,
    the last two ``*`` when not given; a finding without a name matches only ``name: *``).

    Each waiver needs a ``reason``: a waived finding is listed in the report with it.
    """
    waivers = list(waivers)
    for w in waivers:
        if not w.get("id") or not str(w.get("reason", "")).strip():
            raise ValueError(f"audit waiver {dict(w)!r} needs an id and a reason")
    counted, waived = [], []
    for f in findings:
        hit = next(
            (
                w
                for w in waivers
                if fnmatch.fnmatchcase(f["id"], w["id"])
                and fnmatch.fnmatchcase(f["resource"], w.get("resource") or "*")
                and fnmatch.fnmatchcase(f.get("name", ""), w.get("name") or "*")
            ),
            None,
        )
        if hit is None:
            counted.append(dict(f))
        else:
            waived.append({**f, "waived": True, "waiver_reason": str(hit["reason"]).strip()})
    return counted, waived


def apply_severity_overrides(findings: Iterable[Mapping], overrides: Mapping[str, str]) -> list:
    for sev in overrides.values():
        rank(sev)
    return [{**f, "severity": overrides.get(f["id"], f["severity"])} for f in findings]


def sort_findings(findings: Iterable[Mapping]) -> list:
    return sorted(findings, key=lambda f: (-rank(f["severity"]), f["id"], f["resource"]))


def summarize(counted: list, waived: list, fail_severity: str) -> dict[str, Any]:
    threshold = rank(fail_severity)
    by_sev = {s: sum(1 for f in counted if f["severity"] == s) for s in SEVERITIES}
    failing = [f for f in counted if rank(f["severity"]) >= threshold]
    return {
        "by_severity": by_sev,
        "counted": len(counted),
        "waived": len(waived),
        "fail_severity": fail_severity,
        "at_or_above_threshold": len(failing),
        "failed": bool(failing),
    }


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _where(f: Mapping[str, Any]) -> str:
    return _md(
        f"{f['resource']} ({f['name']})"
        if f.get("name") and f["name"] not in f["resource"]
        else f["resource"]
    )


def render_markdown(report: Mapping[str, Any]) -> str:
    s = report["summary"]
    lines = [
        f"# lmpspot audit: {report['project']} / {report['environment']}",
        "",
        f"- account {report['account']}, region {report['region']}, generated {report['generated_at']}",
        f"- threshold: findings at or above **{s['fail_severity']}** fail the audit "
        f"({s['at_or_above_threshold']} do: {'FAILED' if s['failed'] else 'passed'})",
        f"- counted findings: {s['counted']} ("
        + ", ".join(f"{k} {v}" for k, v in reversed(list(s["by_severity"].items())))
        + f"); waived: {s['waived']}",
        f"- checks run: {', '.join(report['checks'])}",
        "",
        "## Findings",
        "",
    ]
    if report["findings"]:
        lines += ["| severity | id | resource | message | fix |", "|---|---|---|---|---|"]
        lines += [
            f"| {f['severity']} | {f['id']} | {_where(f)} | {_md(f['message'])} | {_md(f['fix'])} |"
            for f in report["findings"]
        ]
    else:
        lines.append("None.")
    lines += ["", "## Waived (documented config choices; not counted)", ""]
    if report["waived"]:
        lines += ["| severity | id | resource | message | reason |", "|---|---|---|---|---|"]
        lines += [
            f"| {f['severity']} | {f['id']} | {_where(f)} | {_md(f['message'])} | {_md(f['waiver_reason'])} |"
            for f in report["waived"]
        ]
    else:
        lines.append("None.")
    if report.get("errors"):
        lines += ["", "## Could not check", ""]
        lines += [f"- {_md(e)}" for e in report["errors"]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- collectors
# Read-only: only Describe*/List*/Get* calls.  ``client(service)`` returns a boto3 client.


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _pages(client, op: str, key: str, **kw) -> list:
    out: list = []
    if client.can_paginate(op):
        for page in client.get_paginator(op).paginate(**kw):
            out += page.get(key, [])
    else:
        out += getattr(client, op)(**kw).get(key, [])
    return out


def _get(fn: Callable, *absent_codes: str, **kw) -> Any:
    """Call a Get* API; None when it answers one of ``absent_codes``."""
    try:
        return fn(**kw)
    except Exception as exc:
        if _code(exc) in absent_codes:
            return None
        raise


class Scope:
    """What counts as lmpspot's: a name starting with ``<project>-<env>-``, or the project tags."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.tags = {str(k): str(v) for k, v in cfg["project_tags"].items()}
        self.prefix = cfg.get("name_prefix") or f"{self.tags['Project']}-{self.tags['Environment']}-"
        self.names = set(cfg.get("names", []))
        self.iam_path = cfg.get("iam_path", "")

    def ours(self, name: str | None = None, tags: Any = None) -> bool:
        t = _tags(tags)
        if name and (name.startswith(self.prefix) or name in self.names):
            return True
        if t.get("Name", "").startswith(self.prefix):
            return True
        return t.get("Project") == self.tags["Project"] and t.get("Environment") == self.tags["Environment"]


class Audit:
    """Gathers the account's state and runs the checks; ``run()`` -> findings and errors."""

    def __init__(
        self, client: Callable[[str], Any], cfg: Mapping[str, Any], now: datetime | None = None
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.now = now or datetime.now(timezone.utc)
        self.scope = Scope(cfg)
        self.findings: list = []
        self.errors: list[str] = []
        self.tagged: list[tuple[str, str, Any]] = []  # (kind, resource, tags) of our resources
        self.actual: dict[str, Any] = {}
        self._vpc_ids: set[str] | None = None
        self.compared: list[dict] = []  # the declared resources the drift check looked up

    # -- helpers
    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # a check that cannot read must say so, not pass silently
            msg = f"{what}: {type(exc).__name__}: {exc}"
            self.errors.append(msg)
            self.findings.append(
                finding(
                    "audit.incomplete",
                    "medium",
                    what,
                    f"could not check {what}: {exc}",
                    "Give the auditing principal the read-only actions in roles/audit/README.md",
                )
            )
            return None

    def project_vpc_ids(self) -> set[str]:
        if self._vpc_ids is None:
            vpcs = _pages(self.client("ec2"), "describe_vpcs", "Vpcs")
            self._vpcs = [v for v in vpcs if self.scope.ours(None, v.get("Tags"))]
            self._vpc_ids = {v["VpcId"] for v in self._vpcs}
        return self._vpc_ids

    # -- checks
    def security_groups(self) -> None:
        ec2 = self.client("ec2")
        groups = _pages(ec2, "describe_security_groups", "SecurityGroups")
        ours = self.project_vpc_ids()
        if not self.cfg.get("account_wide", True):
            groups = [g for g in groups if g.get("VpcId") in ours]
        self.findings += check_security_groups(
            groups, self.cfg.get("admin_ports", (22, 3389)), self.cfg.get("admin_min_prefix")
        )
        self.findings += check_ssh_only_from(
            [g for g in groups if g.get("VpcId") in ours], self.cfg.get("ssh_only_from") or {}
        )
        for g in groups:
            if g.get("VpcId") in ours and g.get("GroupName") != "default":
                self.tagged.append(("security group", g["GroupId"], g.get("Tags"), g.get("GroupName")))

    def buckets(self) -> None:
        s3 = self.client("s3")
        names = set(self.cfg.get("bucket_names", []))
        for b in s3.list_buckets().get("Buckets", []):
            name = b["Name"]
            self._guard(f"bucket {name}", lambda name=name: self._bucket(s3, name, names))

    def _bucket(self, s3, name: str, configured: set[str]) -> None:
        tagging = _get(s3.get_bucket_tagging, "NoSuchTagSet", "NoSuchTagSetError", Bucket=name)
        tags = (tagging or {}).get("TagSet", [])
        project = name in configured or self.scope.ours(name, tags)
        if not project and not self.cfg.get("account_wide", True):
            return
        pab = _get(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=name)
        policy = _get(s3.get_bucket_policy, "NoSuchBucketPolicy", Bucket=name)
        acl = _get(s3.get_bucket_acl, "AccessControlListNotSupported", Bucket=name)
        data = {
            "name": name,
            "public_access_block": (pab or {}).get("PublicAccessBlockConfiguration"),
            "policy": json.loads(policy["Policy"]) if policy else None,
            "acl_grants": (acl or {}).get("Grants", []),
        }
        if project:
            enc = _get(
                s3.get_bucket_encryption,
                "ServerSideEncryptionConfigurationNotFoundError",
                Bucket=name,
            )
            data["encryption"] = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules")
            data["versioning"] = s3.get_bucket_versioning(Bucket=name).get("Status")
            self.tagged.append(("bucket", f"arn:aws:s3:::{name}", tags, name))
        self.findings += check_bucket(data, project)

    def imds(self) -> None:
        ec2 = self.client("ec2")
        reservations = _pages(ec2, "describe_instances", "Reservations")
        instances = [i for r in reservations for i in r.get("Instances", [])]
        ours = self.project_vpc_ids()
        if not self.cfg.get("account_wide", True):
            instances = [i for i in instances if i.get("VpcId") in ours]
        self.findings += check_instances_imds(instances)
        for i in instances:
            if i.get("State", {}).get("Name") != "terminated" and (
                i.get("VpcId") in ours or self.scope.ours(None, i.get("Tags"))
            ):
                self.tagged.append(("instance", i["InstanceId"], i.get("Tags")))
        templates = _pages(ec2, "describe_launch_templates", "LaunchTemplates")
        # DescribeTags: the local AWS leaves a template's tags out of DescribeLaunchTemplates.
        lt_tags: dict[str, list] = {}
        for t in _pages(
            ec2, "describe_tags", "Tags", Filters=[{"Name": "resource-type", "Values": ["launch-template"]}]
        ):
            lt_tags.setdefault(t["ResourceId"], []).append(t)
        for t in templates:
            t["Tags"] = t.get("Tags") or lt_tags.get(t["LaunchTemplateId"], [])
        if not self.cfg.get("account_wide", True):
            templates = [t for t in templates if self.scope.ours(t["LaunchTemplateName"], t.get("Tags"))]
        batch_templates = set()
        for ce in _pages(self.client("batch"), "describe_compute_environments", "computeEnvironments"):
            spec = (ce.get("computeResources") or {}).get("launchTemplate") or {}
            batch_templates |= {spec[k] for k in ("launchTemplateId", "launchTemplateName") if spec.get(k)}
        versions = []
        for t in templates:
            versions += ec2.describe_launch_template_versions(
                LaunchTemplateId=t["LaunchTemplateId"], Versions=["$Default", "$Latest"]
            ).get("LaunchTemplateVersions", [])
            if self.scope.ours(t["LaunchTemplateName"], t.get("Tags")):
                self.tagged.append(
                    ("launch template", t["LaunchTemplateId"], t["Tags"], t["LaunchTemplateName"])
                )
        self.findings += check_launch_templates(versions, batch_templates)

    def ebs(self) -> None:
        volumes = _pages(self.client("ec2"), "describe_volumes", "Volumes")
        if not self.cfg.get("account_wide", True):
            volumes = [v for v in volumes if self.scope.ours(None, v.get("Tags"))]
        self.findings += check_volumes(volumes)

    def iam(self) -> None:
        iam = self.client("iam")
        docs: list[tuple[str, str, Any]] = []
        cache: dict[str, Any] = {}

        def managed(arn: str) -> Any:
            if arn not in cache:
                pol = iam.get_policy(PolicyArn=arn)["Policy"]
                ver = iam.get_policy_version(PolicyArn=arn, VersionId=pol["DefaultVersionId"])
                cache[arn] = ver["PolicyVersion"]["Document"]
            return cache[arn]

        for pol in _pages(iam, "list_policies", "Policies", Scope="Local"):
            docs.append((pol["Arn"], f"managed policy {pol['PolicyName']}", managed(pol["Arn"])))
        unused_candidates = []
        for role in _pages(iam, "list_roles", "Roles"):
            name = role["RoleName"]
            for pname in _pages(iam, "list_role_policies", "PolicyNames", RoleName=name):
                doc = iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"]
                docs.append((role["Arn"], f"role {name} inline policy {pname}", doc))
            for att in _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
                if att["PolicyArn"].split(":")[4] == "aws":  # AWS managed; ours are listed above
                    docs.append(
                        (
                            role["Arn"],
                            f"role {name} (AWS managed {att['PolicyName']})",
                            managed(att["PolicyArn"]),
                        )
                    )
            if role.get("Path", "/").startswith("/aws-service-role/"):
                continue
            full = iam.get_role(RoleName=name)["Role"]
            in_path = bool(self.scope.iam_path) and role.get("Path") == self.scope.iam_path
            if in_path or self.scope.ours(name, full.get("Tags")):
                unused_candidates.append(full)
                self.tagged.append(("IAM role", full["Arn"], full.get("Tags"), name))
        for user in _pages(iam, "list_users", "Users"):
            for pname in _pages(iam, "list_user_policies", "PolicyNames", UserName=user["UserName"]):
                doc = iam.get_user_policy(UserName=user["UserName"], PolicyName=pname)["PolicyDocument"]
                docs.append((user["Arn"], f"user {user['UserName']} inline policy {pname}", doc))
        self.findings += check_policy_documents(docs)
        self.findings += check_unused_roles(
            unused_candidates, self.now, int(self.cfg.get("unused_role_days", 90))
        )

    def ecr(self) -> None:
        ecr = self.client("ecr")
        names = set(self.cfg.get("repository_names", []))
        for repo in _pages(ecr, "describe_repositories", "repositories"):
            tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
            if not (repo["repositoryName"] in names or self.scope.ours(repo["repositoryName"], tags)):
                continue
            self.tagged.append(("ECR repository", repo["repositoryArn"], tags, repo["repositoryName"]))
            images = _pages(ecr, "describe_images", "imageDetails", repositoryName=repo["repositoryName"])
            images.sort(key=lambda i: _as_dt(i.get("imagePushedAt")) or self.now, reverse=True)
            scanned = []
            for img in images[: int(self.cfg.get("ecr_images_max", 10))]:
                res = _get(
                    ecr.describe_image_scan_findings,
                    "ScanNotFoundException",
                    repositoryName=repo["repositoryName"],
                    imageId={"imageDigest": img["imageDigest"]},
                )
                counts = ((res or {}).get("imageScanFindings") or {}).get("findingSeverityCounts") or {}
                label = (img.get("imageTags") or [img["imageDigest"]])[0]
                scanned.append((label, counts))
            self.findings += check_ecr_repository(repo, scanned)

    def batch(self) -> None:
        batch = self.client("batch")
        ces = _pages(batch, "describe_compute_environments", "computeEnvironments")
        queues = _pages(batch, "describe_job_queues", "jobQueues")
        jds = _pages(batch, "describe_job_definitions", "jobDefinitions", status="ACTIVE")
        ces = [c for c in ces if self.scope.ours(c["computeEnvironmentName"], c.get("tags"))]
        queues = [q for q in queues if self.scope.ours(q["jobQueueName"], q.get("tags"))]
        newest: dict[str, dict] = {}
        for jd in jds:
            if self.scope.ours(jd["jobDefinitionName"], jd.get("tags")):
                cur = newest.get(jd["jobDefinitionName"])
                if cur is None or jd["revision"] > cur["revision"]:
                    newest[jd["jobDefinitionName"]] = jd
        self.actual.update(compute_environments=ces, job_queues=queues, job_definitions=newest)
        self.tagged += [
            ("compute environment", c["computeEnvironmentArn"], c.get("tags"), c["computeEnvironmentName"])
            for c in ces
        ]
        self.tagged += [("job queue", q["jobQueueArn"], q.get("tags"), q["jobQueueName"]) for q in queues]
        self.tagged += [
            ("job definition", j["jobDefinitionArn"], j.get("tags"), j["jobDefinitionName"])
            for j in newest.values()
        ]
        jobs = []
        for q in queues:
            for status in ("RUNNABLE", "RUNNING"):
                ids = [
                    j["jobId"]
                    for j in _pages(
                        batch, "list_jobs", "jobSummaryList", jobQueue=q["jobQueueName"], jobStatus=status
                    )
                ]
                for i in range(0, len(ids), 100):
                    jobs += batch.describe_jobs(jobs=ids[i : i + 100]).get("jobs", [])
        self.findings += check_runnable_jobs(jobs, self.now, int(self.cfg.get("runnable_max_age_s", 3600)))
        self.findings += check_checkpoint_age(
            jobs, self.newest_checkpoint, self.cfg.get("checkpoint", {}), self.now
        )

    def newest_checkpoint(self, bucket: str, prefix: str) -> datetime | None:
        """Time of the newest checkpoint manifest (uploaded last, so the checkpoint is whole)."""
        objs = _pages(self.client("s3"), "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
        times = [_as_dt(o["LastModified"]) for o in objs if o["Key"].endswith("/manifest.json")]
        return max(times, default=None)

    def drift(self) -> None:
        expected = self.cfg.get("expected") or {}
        vpc = expected.get("vpc")
        if vpc:
            self.project_vpc_ids()
            named = [v for v in self._vpcs if _tags(v.get("Tags")).get("Name") == vpc["name"]]
            self.actual["vpc"] = named[0] if named else None
        bucket = expected.get("bucket")
        if bucket:
            s3 = self.client("s3")
            exists = (
                _get(s3.head_bucket, "404", "NoSuchBucket", "NotFound", Bucket=bucket["name"]) is not None
            )
            rules = None
            if exists:
                lc = _get(
                    s3.get_bucket_lifecycle_configuration,
                    "NoSuchLifecycleConfiguration",
                    Bucket=bucket["name"],
                )
                rules = (lc or {}).get("Rules", [])
            self.actual["lifecycle_rules"] = rules
        if expected.get("network"):
            self.actual["network"] = self.network_inventory()
        if "compute_environments" not in self.actual and any(
            expected.get(k) for k in ("compute_environments", "job_queues", "job_definitions")
        ):
            self.batch_inventory()
        self.findings += check_drift(expected, self.actual)
        if expected.get("network"):
            self.findings += check_network_drift(expected["network"], self.actual["network"])
        if expected.get("resources"):
            declared = audit_resources.flatten(expected["resources"])
            self.actual["resources"] = audit_resources.collect_resources(self.client, declared)
            self.findings += audit_resources.check_resource_drift(declared, self.actual["resources"])
            self.compared = [
                {**r, "present": self.actual["resources"].get((r["kind"], r["name"])) is not None}
                for r in declared
            ]

    def network_inventory(self) -> dict[str, list]:
        """The project VPCs' subnets, route tables, groups, gateways and endpoints."""
        ec2 = self.client("ec2")
        vpcs = sorted(self.project_vpc_ids())
        if not vpcs:
            return {}
        by_vpc = [{"Name": "vpc-id", "Values": vpcs}]
        return {
            "subnets": _pages(ec2, "describe_subnets", "Subnets", Filters=by_vpc),
            "route_tables": _pages(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc),
            "security_groups": _pages(ec2, "describe_security_groups", "SecurityGroups", Filters=by_vpc),
            "internet_gateways": _pages(
                ec2,
                "describe_internet_gateways",
                "InternetGateways",
                Filters=[{"Name": "attachment.vpc-id", "Values": vpcs}],
            ),
            "endpoints": _pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc),
        }

    def batch_inventory(self) -> None:
        batch = self.client("batch")
        self.actual["compute_environments"] = _pages(
            batch, "describe_compute_environments", "computeEnvironments"
        )
        self.actual["job_queues"] = _pages(batch, "describe_job_queues", "jobQueues")
        newest: dict[str, dict] = {}
        for jd in _pages(batch, "describe_job_definitions", "jobDefinitions", status="ACTIVE"):
            cur = newest.get(jd["jobDefinitionName"])
            if cur is None or jd["revision"] > cur["revision"]:
                newest[jd["jobDefinitionName"]] = jd
        self.actual["job_definitions"] = newest

    def tags(self) -> None:
        ec2 = self.client("ec2")
        ours = self.project_vpc_ids()
        self.tagged += [("VPC", v["VpcId"], v.get("Tags")) for v in self._vpcs]
        if ours:
            subnets = _pages(
                ec2, "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": sorted(ours)}]
            )
            self.tagged += [("subnet", s["SubnetId"], s.get("Tags")) for s in subnets]
        seen, unique = set(), []
        for item in self.tagged:
            if item[1] not in seen:
                seen.add(item[1])
                unique.append(item)
        self.findings += check_tags(unique, self.scope.tags)

    def run(self, checks: Iterable[str] = ALL_CHECKS) -> dict[str, Any]:
        checks = list(checks)
        unknown = sorted(set(checks) - set(ALL_CHECKS))
        if unknown:
            raise ValueError(
                f"unknown audit checks {', '.join(unknown)}; choose from {', '.join(ALL_CHECKS)}"
            )
        # tags runs last: the other checks collect the project's resources it looks at.
        order = [c for c in ALL_CHECKS if c in checks and c != "tags"] + (
            ["tags"] if "tags" in checks else []
        )
        for name in order:
            self._guard(f"{name} check", getattr(self, name))
        return {"findings": self.findings, "errors": self.errors, "checks": order, "compared": self.compared}
