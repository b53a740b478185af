#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ec2_console_host_keys
version_added: 0.1.0
short_description: Read a new EC2 instance's SSH host keys from its console output
description:
  - Polls GetConsoleOutput until cloud-init's C(-----BEGIN SSH HOST KEY KEYS-----) block is
    there and returns the host keys of O(key_types) in it, with known_hosts lines for
    O(address).
  - For the first SSH contact with an instance that was just launched, instead of
    trusting whatever key answers (C(StrictHostKeyChecking=no)).
  - Fails when no such key appears within O(wait_timeout) seconds. Read-only; runs the
    same in check mode.
options:
  instance_id:
    description: The instance.
    type: str
    required: true
  address:
    description: The address the known_hosts lines are for (the instance's IP or name).
    type: str
    required: true
  key_types:
    description: Host key types to return.
    type: list
    elements: str
    default: [ssh-ed25519]
  wait_timeout:
    description: Seconds to wait for the keys to appear on the console.
    type: int
    default: 600
  poll_interval:
    description: Seconds between GetConsoleOutput calls.
    type: int
    default: 15
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: The replacement's host key, from its console
  lmpspot.aws.ec2_console_host_keys:
    instance_id: i-0123456789abcdef0
    address: 203.0.113.10
  register: keys
"""

RETURN = r"""
host_keys:
  description: The host keys found (C(<type> <base64>)).
  returned: success
  type: list
  elements: str
known_hosts:
  description: known_hosts lines (C(<address> <type> <base64>)).
  returned: success
  type: list
  elements: str
"""

import base64
import binascii
import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import console_host_keys as chk


def console(client, instance_id):
    try:
        out = client.get_console_output(aws_retry=True, InstanceId=instance_id, Latest=True).get("Output")
    except is_boto3_error_code("UnsupportedOperation"):  # Latest needs a Nitro instance
        out = client.get_console_output(aws_retry=True, InstanceId=instance_id).get("Output")
    if not out:
        return ""
    try:  # EC2 answers base64; some emulators send the text itself
        return base64.b64decode(out, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return out


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "instance_id": {"type": "str", "required": True},
            "address": {"type": "str", "required": True},
            "key_types": {"type": "list", "elements": "str", "default": ["ssh-ed25519"]},
            "wait_timeout": {"type": "int", "default": 600},
            "poll_interval": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    p = module.params
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    deadline = time.monotonic() + max(0, p["wait_timeout"])
    while True:
        try:
            keys = chk.host_keys(console(client, p["instance_id"]), tuple(p["key_types"]))
        except Exception as e:  # botocore errors: reported with the AWS details
            module.fail_json_aws(e, msg=f"Failed to read the console output of {p['instance_id']}")
        if keys or time.monotonic() >= deadline:
            break
        time.sleep(max(1, p["poll_interval"]))
    if not keys:
        module.fail_json(
            msg=f"No {'/'.join(p['key_types'])} host key in the console output of {p['instance_id']} after "
            f"{p['wait_timeout']} s: its host key cannot be verified, so it is not contacted. Check that the "
            "image runs cloud-init (it prints the keys at first boot) or raise rotate_bastion_ssh_timeout."
        )
    try:
        lines = chk.known_hosts_lines(p["address"], keys)
    except ValueError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, host_keys=keys, known_hosts=lines)


if __name__ == "__main__":
    main()
