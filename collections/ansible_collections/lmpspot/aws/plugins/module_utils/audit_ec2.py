# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 checks of the account audit (docs/AUDIT.md): instances and launch templates that accept
IMDSv1, Batch launch templates that let containers reach IMDS, unencrypted EBS volumes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import finding, tag_dict


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
                    tag_dict(inst.get("Tags")).get("Name"),
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
                    tag_dict(vol.get("Tags")).get("Name"),
                )
            )
    return out
