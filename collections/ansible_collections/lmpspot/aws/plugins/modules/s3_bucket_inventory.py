#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_bucket_inventory
version_added: 0.1.0
short_description: Count what an S3 bucket holds (objects, versions, delete markers, bytes, prefixes)
description:
  - Lists every object version and delete marker of a bucket (C(ListObjectVersions)) and sums
    them up per top-level prefix, so that a play can say exactly what deleting the bucket
    would lose before it does so.
  - Read-only; never reports C(changed). Runs in check mode.
  - A missing bucket is not an error (C(exists=false)).
options:
  name:
    description: The bucket.
    type: str
    required: true
  delimiter:
    description: What ends a top-level prefix (C(checkpoints/), C(results/), ...).
    type: str
    default: /
  sample_keys:
    description: How many of the current objects' keys to return in C(sample).
    type: int
    default: 20
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: What the results bucket holds
  lmpspot.aws.s3_bucket_inventory:
    name: lmpspot-local-results
  register: inventory

- name: Say it
  ansible.builtin.debug:
    msg: "{{ inventory.objects }} objects, {{ inventory.bytes | human_readable }}"
"""

RETURN = r"""
exists:
  description: Whether the bucket exists.
  returned: always
  type: bool
objects:
  description: Current (latest, not deleted) objects.
  returned: always
  type: int
  sample: 42
bytes:
  description: Size of the current objects.
  returned: always
  type: int
versions:
  description: Every object version, current and noncurrent.
  returned: always
  type: int
noncurrent_bytes:
  description: Size of the noncurrent versions.
  returned: always
  type: int
delete_markers:
  description: Delete markers.
  returned: always
  type: int
prefixes:
  description:
    - Per top-level prefix (C("") for keys without the delimiter), the current objects and
      their bytes, and all versions.
  returned: always
  type: dict
  sample: {"checkpoints/": {"objects": 6, "bytes": 1048576, "versions": 9}}
sample:
  description: The first C(sample_keys) keys of current objects, in key order.
  returned: always
  type: list
  elements: str
"""

import contextlib

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def summarise(versions, markers, delimiter, sample_keys):
    """Counts from ListObjectVersions' Versions and DeleteMarkers entries."""
    out = {
        "objects": 0,
        "bytes": 0,
        "versions": 0,
        "noncurrent_bytes": 0,
        "delete_markers": len(markers),
        "prefixes": {},
        "sample": [],
    }
    deleted = {m["Key"] for m in markers if m.get("IsLatest")}
    current_keys = []
    for v in versions:
        key, size = v["Key"], int(v.get("Size", 0))
        prefix = key.split(delimiter, 1)[0] + delimiter if delimiter and delimiter in key else ""
        p = out["prefixes"].setdefault(prefix, {"objects": 0, "bytes": 0, "versions": 0})
        out["versions"] += 1
        p["versions"] += 1
        if v.get("IsLatest") and key not in deleted:
            out["objects"] += 1
            out["bytes"] += size
            p["objects"] += 1
            p["bytes"] += size
            current_keys.append(key)
        else:
            out["noncurrent_bytes"] += size
    out["sample"] = sorted(current_keys)[:sample_keys]
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "delimiter": {"type": "str", "default": "/"},
            "sample_keys": {"type": "int", "default": 20},
        },
        supports_check_mode=True,
    )
    client = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
    name = module.params["name"]
    versions, markers = [], []
    try:
        paginator = client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=name):
            versions.extend(page.get("Versions", []))
            markers.extend(page.get("DeleteMarkers", []))
    except is_boto3_error_code("NoSuchBucket"):
        module.exit_json(changed=False, exists=False, **summarise([], [], "/", 0))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not list the versions in bucket {name}")
    module.exit_json(
        changed=False,
        exists=True,
        **summarise(versions, markers, module.params["delimiter"], module.params["sample_keys"]),
    )


if __name__ == "__main__":
    main()
