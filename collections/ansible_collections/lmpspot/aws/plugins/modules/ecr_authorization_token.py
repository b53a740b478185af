#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_authorization_token
version_added: 0.1.0
short_description: Get registry credentials from ECR's GetAuthorizationToken
description:
  - Calls ECR C(GetAuthorizationToken) and decodes the token into the user name and password
    that C(podman login)/C(podman push --creds) take (the user name is C(AWS)).
  - Read-only; never reports C(changed). Runs in check mode.
  - "The password is a secret valid for 12 hours: register the result with C(no_log: true)."
options:
  registry_ids:
    description: "AWS account IDs of the registries (default: the caller's own registry)."
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Registry credentials
  lmpspot.aws.ecr_authorization_token:
  register: ecr_auth
  no_log: true

- name: Push with them
  containers.podman.podman_image:
    name: "{{ ecr_auth.registry }}/lmpspot:{{ tag }}"
    push: true
    username: "{{ ecr_auth.username }}"
    password: "{{ ecr_auth.password }}"
"""

RETURN = r"""
username:
  description: User name for the registry (always C(AWS) for ECR).
  returned: always
  type: str
  sample: AWS
password:
  description: Password for the registry (secret).
  returned: always
  type: str
registry:
  description: The registry host, C(<account>.dkr.ecr.<region>.amazonaws.com).
  returned: always
  type: str
proxy_endpoint:
  description: The registry URL ECR returned.
  returned: always
  type: str
expires_at:
  description: When the credentials expire (ISO 8601).
  returned: always
  type: str
"""

import base64
import contextlib

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def main():
    module = AnsibleAWSModule(
        argument_spec={"registry_ids": {"type": "list", "elements": "str", "default": []}},
        supports_check_mode=True,
    )
    client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    kwargs = {"registryIds": module.params["registry_ids"]} if module.params["registry_ids"] else {}
    try:
        data = client.get_authorization_token(aws_retry=True, **kwargs)["authorizationData"][0]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="ECR GetAuthorizationToken failed")
    try:
        username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError) as e:
        module.fail_json(msg=f"ECR returned an authorization token that is not base64 'user:password': {e}")
    endpoint = data.get("proxyEndpoint", "")
    expires = data.get("expiresAt")
    module.exit_json(
        changed=False,
        username=username,
        password=password,
        proxy_endpoint=endpoint,
        registry=endpoint.split("://", 1)[-1].rstrip("/"),
        expires_at=expires.isoformat() if hasattr(expires, "isoformat") else str(expires or ""),
    )


if __name__ == "__main__":
    main()
