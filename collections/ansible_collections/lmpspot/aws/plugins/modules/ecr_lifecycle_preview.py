#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_lifecycle_preview
version_added: 0.1.0
short_description: Report which images an ECR lifecycle policy would expire
description:
  - Read-only. Lists the repository's images and reports those the lifecycle policy would
    expire, with the rule and the reason for each.
  - O(method=aws) asks ECR itself (C(StartLifecyclePolicyPreview), then polls
    C(GetLifecyclePolicyPreview)). O(method=computed) evaluates the policy's rules here,
    as ECR documents them (rule priority order; each image belongs to the first rule whose
    tag selection matches it; imageCountMoreThan by push time; sinceImagePushed in days).
    O(method=auto) asks ECR and computes when the API is not available (the local AWS does
    not implement it); RV(method) says which answered.
  - The images come from ECR (C(DescribeImages)), or, with O(registry_url), from a
    registry v2 on loopback (the local mode's stand-in for ECR's data plane; push time is
    then the image config's C(created) time), or from O(images).
  - Never changes anything; supports check mode.
options:
  repository_name:
    description: The ECR repository (also the repository path in O(registry_url)).
    type: str
    required: true
  policy:
    description:
      - The lifecycle policy to evaluate (a mapping with C(rules)). Default the
        repository's current policy (C(GetLifecyclePolicy)).
    type: dict
  registry_url:
    description:
      - A registry v2 base URL on loopback (for example V(http://127.0.0.1:5050)) to list
        the images from instead of ECR. Implies O(method=computed).
    type: str
  images:
    description:
      - The images to evaluate, each with C(digest), C(tags) and C(pushed_at) (ISO 8601),
        instead of listing them. Implies O(method=computed).
    type: list
    elements: dict
  method:
    description: Who evaluates the policy.
    type: str
    choices: [auto, aws, computed]
    default: auto
  now:
    description: The evaluation time (ISO 8601); default now. For sinceImagePushed rules.
    type: str
  preview_timeout:
    description: Seconds to wait for ECR's preview to complete.
    type: int
    default: 120
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: What the lifecycle policy will expire (ECR)
  lmpspot.aws.ecr_lifecycle_preview:
    repository_name: lmpspot-prod-lammps
  register: preview

- name: Same, for the local registry standing in for ECR's data plane
  lmpspot.aws.ecr_lifecycle_preview:
    repository_name: lmpspot-local-lammps
    registry_url: http://127.0.0.1:5050
"""

RETURN = r"""
method:
  description: Who evaluated the policy, V(aws) (ECR's preview) or V(computed) (this module).
  returned: always
  type: str
images_total:
  description: How many images were evaluated.
  returned: always
  type: int
expiring:
  description: The images the policy would expire.
  returned: always
  type: list
  elements: dict
  contains:
    digest: {description: Image digest., type: str}
    tags: {description: Its tags., type: list, elements: str}
    pushed_at: {description: Push time (ISO 8601)., type: str}
    rule: {description: The rulePriority of the rule that expires it., type: int}
    reason: {description: Why, in words., type: str}
kept:
  description: Tags of the images that stay.
  returned: always
  type: list
  elements: str
policy:
  description: The policy evaluated.
  returned: always
  type: dict
"""

import contextlib
import json
import time
import urllib.parse
import urllib.request

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils.ecr_lifecycle import LifecyclePolicyError, expiring

_ACCEPT = ",".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
_LOOPBACK = ("127.", "localhost", "[::1]")


def _get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=30) as resp:  # loopback http only, checked
        return json.loads(resp.read()), resp.headers


def registry_images(base, repo):
    """Images of a registry v2 repository: one entry per manifest digest, with its tags."""
    base = base.rstrip("/")
    tags = (_get(f"{base}/v2/{repo}/tags/list")[0].get("tags")) or []
    by_digest = {}
    for tag in sorted(tags):
        man, headers = _get(f"{base}/v2/{repo}/manifests/{urllib.parse.quote(tag)}", _ACCEPT)
        digest = headers.get("Docker-Content-Digest", "")
        if "manifests" in man:  # an index: the first image's config tells the time
            sub = man["manifests"][0]["digest"]
            man = _get(f"{base}/v2/{repo}/manifests/{sub}", _ACCEPT)[0]
        created = _get(f"{base}/v2/{repo}/blobs/{man['config']['digest']}")[0].get("created")
        entry = by_digest.setdefault(digest, {"digest": digest, "tags": [], "pushed_at": created})
        entry["tags"].append(tag)
    return list(by_digest.values())


def ecr_images(module, client, repo):
    images = []
    try:
        for page in client.get_paginator("describe_images").paginate(repositoryName=repo):
            for d in page.get("imageDetails", []):
                images.append(
                    {
                        "digest": d.get("imageDigest", ""),
                        "tags": d.get("imageTags", []),
                        "pushed_at": d["imagePushedAt"].isoformat(),
                    }
                )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not list the images of ECR repository {repo}")
    return images


def aws_preview(client, repo, policy, timeout):
    """ECR's own preview; raises ClientError/BotoCoreError where it is not available."""
    client.start_lifecycle_policy_preview(repositoryName=repo, lifecyclePolicyText=json.dumps(policy))
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get_lifecycle_policy_preview(repositoryName=repo)
        if resp.get("status") == "COMPLETE":
            break
        if resp.get("status") in ("FAILED", "EXPIRED") or time.monotonic() > deadline:
            raise TimeoutError(f"ECR lifecycle preview of {repo}: {resp.get('status')}")
        time.sleep(3)
    out = []
    for r in resp.get("previewResults", []):
        if (r.get("action") or {}).get("type") == "EXPIRE":
            out.append(
                {
                    "digest": r.get("imageDigest", ""),
                    "tags": r.get("imageTags", []),
                    "pushed_at": r["imagePushedAt"].isoformat() if r.get("imagePushedAt") else "",
                    "rule": int(r.get("appliedRulePriority", 0)),
                    "reason": "ECR lifecycle policy preview",
                }
            )
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "repository_name": {"type": "str", "required": True},
            "policy": {"type": "dict"},
            "registry_url": {"type": "str"},
            "images": {"type": "list", "elements": "dict"},
            "method": {"type": "str", "default": "auto", "choices": ["auto", "aws", "computed"]},
            "now": {"type": "str"},
            "preview_timeout": {"type": "int", "default": 120},
        },
        mutually_exclusive=[("registry_url", "images")],
        supports_check_mode=True,
    )
    p = module.params
    repo = p["repository_name"]
    own_images = check_sources(module)
    client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    policy = p["policy"] if p["policy"] is not None else read_policy(module, client, repo)
    images = list_images(module, client, repo)
    gone, method = expiring_images(module, client, policy, images, own_images)
    gone_digests = {g["digest"] for g in gone}
    kept = sorted(t for i in images if i.get("digest") not in gone_digests for t in i.get("tags") or [])
    module.exit_json(
        changed=False, method=method, images_total=len(images), expiring=gone, kept=kept, policy=policy
    )


def check_sources(module):
    """Refuse a registry off loopback and method=aws with own images; True when images are given."""
    p = module.params
    if p["registry_url"] and not urllib.parse.urlsplit(p["registry_url"]).netloc.startswith(_LOOPBACK):
        module.fail_json(msg=f"registry_url {p['registry_url']} must be on loopback (the local registry)")
    own_images = p["registry_url"] or p["images"] is not None
    if own_images and p["method"] == "aws":
        module.fail_json(
            msg="method=aws evaluates ECR's own images: drop registry_url/images, or use method=computed"
        )
    return own_images


def read_policy(module, client, repo):
    """The repository's lifecycle policy; without one the module exits with nothing expiring."""
    try:
        text = client.get_lifecycle_policy(aws_retry=True, repositoryName=repo)["lifecyclePolicyText"]
    except is_boto3_error_code("LifecyclePolicyNotFoundException"):
        module.exit_json(changed=False, method="computed", images_total=0, expiring=[], kept=[], policy={})
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not read the lifecycle policy of ECR repository {repo}")
    return json.loads(text)


def list_images(module, client, repo):
    """The images to evaluate: the local registry's, the ones given, or ECR's."""
    p = module.params
    if p["registry_url"]:
        try:
            return registry_images(p["registry_url"], repo)
        except OSError as e:
            module.fail_json(msg=f"Could not list {repo} in the registry {p['registry_url']}: {e}")
    if p["images"] is not None:
        return p["images"]
    return ecr_images(module, client, repo)


def expiring_images(module, client, policy, images, own_images):
    """(images the policy expires, method): ECR's own preview where asked and possible, else computed."""
    p = module.params
    repo = p["repository_name"]
    if not own_images and p["method"] in ("auto", "aws"):
        try:
            return aws_preview(client, repo, policy, p["preview_timeout"]), "aws"
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, TimeoutError) as e:
            if p["method"] == "aws":
                module.fail_json(msg=f"ECR lifecycle preview failed: {e}")
    try:
        return expiring(policy, images, p["now"]), "computed"
    except (LifecyclePolicyError, KeyError, ValueError) as e:
        module.fail_json(msg=f"Cannot evaluate the lifecycle policy of {repo}: {e}")


if __name__ == "__main__":
    main()
