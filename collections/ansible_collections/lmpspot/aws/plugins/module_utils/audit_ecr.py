# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECR checks of the account audit (docs/AUDIT.md): scan on push, tag immutability, the
vulnerabilities an image scan found."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import finding


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
