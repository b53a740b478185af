#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_repository_tags
version_added: 0.1.0
short_description: Manage the tags of an ECR repository
description:
  - C(community.aws.ecs_ecr) cannot tag a repository; this module sets its tags with
    C(TagResource)/C(UntagResource), changing only the difference.
  - Supports check mode and diff mode.
options:
  name:
    description: Repository name.
    type: str
    required: true
  tags:
    description: Tags the repository must carry.
    type: dict
    required: true
  purge_tags:
    description: Remove tags not in O(tags).
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Tag the image repository
  lmpspot.aws.ecr_repository_tags:
    name: lmpspot-local-lammps
    tags: {Project: lmpspot, Environment: local}
"""

RETURN = r"""
arn:
  description: The repository's ARN.
  returned: when the repository exists
  type: str
tags:
  description: The repository's tags after the module ran (before, in check mode).
  returned: always
  type: dict
"""

import contextlib

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "tags": {"type": "dict", "required": True},
            "purge_tags": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    name = module.params["name"]
    want = {str(k): str(v) for k, v in module.params["tags"].items()}
    try:
        repo = client.describe_repositories(aws_retry=True, repositoryNames=[name])["repositories"][0]
    except is_boto3_error_code("RepositoryNotFoundException"):
        if module.check_mode:  # would be created by an earlier task of the same play
            module.exit_json(changed=True, tags=want)
        module.fail_json(msg=f"ECR repository {name} does not exist")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg=f"Could not describe ECR repository {name}")
    arn = repo["repositoryArn"]
    try:
        have_list = client.list_tags_for_resource(aws_retry=True, resourceArn=arn).get("tags", [])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Could not list the tags of {arn}")
    have = {t["Key"]: t["Value"] for t in have_list}
    to_set, to_unset = compare_aws_tags(have, want, purge_tags=module.params["purge_tags"])
    changed = bool(to_set or to_unset)
    after = {k: v for k, v in have.items() if k not in to_unset}
    after.update(to_set)
    if changed and not module.check_mode:
        try:
            if to_unset:
                client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=list(to_unset))
            if to_set:
                client.tag_resource(
                    aws_retry=True, resourceArn=arn, tags=[{"Key": k, "Value": v} for k, v in to_set.items()]
                )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not tag {arn}")
    result = {"changed": changed, "arn": arn, "tags": after if not module.check_mode else have}
    if module._diff:
        result["diff"] = {"before": {"tags": have}, "after": {"tags": after}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
