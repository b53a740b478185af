#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: sns_topic
short_description: An SNS topic with its encryption key, access policy, subscriptions and tags
description:
  - Creates, updates or deletes a standard SNS topic. Compares first and changes only the
    difference - display name, C(KmsMasterKeyId), the access policy (compared as parsed
    JSON), subscriptions (by protocol and endpoint) and tags.
  - Exists because community.aws.sns_topic (10.0) has no encryption option and fails in check
    mode for a topic that does not exist yet when a policy is given.
  - Subscriptions still waiting for confirmation cannot be removed through the API; they are
    left alone (and lapse after 3 days) with a warning.
  - O(state=absent) deletes the topic, which removes its subscriptions.
  - Supports check mode and diff.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Topic name.
    type: str
    required: true
  state:
    description: Whether the topic should exist.
    type: str
    choices: [present, absent]
    default: present
  display_name:
    description: Display name (the sender name of e-mail notifications).
    type: str
    default: ""
  kms_master_key_id:
    description:
      - KMS key id, ARN or alias that encrypts messages at rest; empty means none.
      - A publisher service (CloudWatch, EventBridge, Budgets) needs C(kms:GenerateDataKey*)
        and C(kms:Decrypt) on the key; the AWS managed key C(alias/aws/sns) does not grant
        CloudWatch alarms that.
    type: str
    default: ""
  policy:
    description: Access policy (a mapping or its JSON text); omit to leave the current one.
    type: json
  subscriptions:
    description: The topic's subscriptions.
    type: list
    elements: dict
    default: []
    suboptions:
      protocol:
        description: Protocol.
        type: str
        required: true
        choices: [email, email-json, http, https, sqs, lambda, sms, application, firehose]
      endpoint:
        description: Address, URL or ARN, as the protocol needs.
        type: str
        required: true
  purge_subscriptions:
    description: Remove (confirmed) subscriptions that O(subscriptions) does not list.
    type: bool
    default: true
extends_documentation_fragment:
  - lmpspot.aws.tags
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(sns:CreateTopic), C(sns:DeleteTopic), C(sns:GetTopicAttributes),
    C(sns:SetTopicAttributes), C(sns:ListSubscriptionsByTopic), C(sns:Subscribe),
    C(sns:Unsubscribe), C(sns:ListTagsForResource), C(sns:TagResource), C(sns:UntagResource)
    and C(sts:GetCallerIdentity).
"""

EXAMPLES = r"""
- name: Alert topic that CloudWatch alarms may publish to, encrypted with a customer managed key
  lmpspot.aws.sns_topic:
    name: lmpspot-prod-alerts
    kms_master_key_id: alias/lmpspot-prod-alerts
    policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Service: cloudwatch.amazonaws.com}
          Action: SNS:Publish
          Resource: arn:aws:sns:us-east-2:123456789012:lmpspot-prod-alerts
    subscriptions:
      - {protocol: email, endpoint: oncall@example.org}
"""

RETURN = r"""
topic_arn:
  description: ARN of the topic (what it will be, in check mode before creation).
  returned: always
  type: str
topic:
  description: The topic after the task; empty when absent.
  returned: always
  type: dict
  contains:
    display_name: {description: Display name., type: str}
    kms_master_key_id: {description: Encryption key (empty when none)., type: str}
    policy: {description: Access policy., type: dict}
    subscriptions: {description: "Subscriptions, each with protocol and endpoint.", type: list}
    tags: {description: Tags., type: dict}
"""

import contextlib
import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import str_values, tag_changes

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

PENDING = "PendingConfirmation"


class TopicManager:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.client = module.client("sns", retry_decorator=AWSRetry.jittered_backoff())
        ident = module.client("sts").get_caller_identity()
        partition = ident["Arn"].split(":")[1]
        self.arn = f"arn:{partition}:sns:{self.client.meta.region_name}:{ident['Account']}:{self.p['name']}"

    def read(self):
        """The topic as facts, with the subscription ARNs apart; None when it does not exist."""
        try:
            attrs = self.client.get_topic_attributes(aws_retry=True, TopicArn=self.arn)["Attributes"]
        except is_boto3_error_code("NotFound"):
            return None, {}
        subs, token = {}, None
        while True:
            kwargs = {"TopicArn": self.arn, "NextToken": token} if token else {"TopicArn": self.arn}
            res = self.client.list_subscriptions_by_topic(aws_retry=True, **kwargs)
            for s in res.get("Subscriptions", []):
                subs[(s["Protocol"], s["Endpoint"])] = s["SubscriptionArn"]
            token = res.get("NextToken")
            if not token:
                break
        tags = self.client.list_tags_for_resource(aws_retry=True, ResourceArn=self.arn).get("Tags", [])
        facts = {
            "display_name": attrs.get("DisplayName") or "",
            "kms_master_key_id": attrs.get("KmsMasterKeyId") or "",
            "policy": json.loads(attrs["Policy"]) if attrs.get("Policy") else None,
            "subscriptions": [{"protocol": p, "endpoint": e} for p, e in sorted(subs)],
            "tags": {t["Key"]: t["Value"] for t in tags},
        }
        return facts, subs

    def present(self):
        p = self.p
        have, have_subs = self.read()
        want_subs = {(s["protocol"], s["endpoint"]) for s in p["subscriptions"]}
        want = {
            "display_name": p["display_name"] or "",
            "kms_master_key_id": p["kms_master_key_id"] or "",
            "policy": json.loads(p["policy"]) if p["policy"] is not None else (have or {}).get("policy"),
        }
        cur = have or {"display_name": "", "kms_master_key_id": "", "policy": None, "tags": {}}
        attr_changes = {
            api: want[key]
            for key, api in (
                ("display_name", "DisplayName"),
                ("kms_master_key_id", "KmsMasterKeyId"),
                ("policy", "Policy"),
            )
            if want[key] != cur[key] and not (key == "policy" and want[key] is None)
        }
        add = sorted(want_subs - set(have_subs))
        extra = sorted(set(have_subs) - want_subs) if p["purge_subscriptions"] else []
        remove = [k for k in extra if have_subs[k] != PENDING]
        pending = [k for k in extra if have_subs[k] == PENDING]
        if pending:
            self.module.warn(f"subscriptions awaiting confirmation cannot be removed, left alone: {pending}")
        to_tag, to_untag = tag_changes(cur["tags"], str_values(p["tags"]), p["purge_tags"])
        want_tags = {k: v for k, v in cur["tags"].items() if k not in to_untag}
        want_tags.update(to_tag)
        changed = have is None or bool(attr_changes or add or remove or to_tag or to_untag)
        if changed and not self.module.check_mode:
            if have is None:
                kwargs = {"Name": p["name"]}
                if to_tag:
                    kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in to_tag.items()]
                self.client.create_topic(aws_retry=True, **kwargs)
            elif to_tag:
                self.client.tag_resource(
                    aws_retry=True,
                    ResourceArn=self.arn,
                    Tags=[{"Key": k, "Value": v} for k, v in to_tag.items()],
                )
            if to_untag:
                self.client.untag_resource(aws_retry=True, ResourceArn=self.arn, TagKeys=to_untag)
            for name, value in attr_changes.items():
                text = json.dumps(value) if name == "Policy" else value
                self.client.set_topic_attributes(
                    aws_retry=True, TopicArn=self.arn, AttributeName=name, AttributeValue=text
                )
            for protocol, endpoint in add:
                self.client.subscribe(aws_retry=True, TopicArn=self.arn, Protocol=protocol, Endpoint=endpoint)
            for key in remove:
                self.client.unsubscribe(aws_retry=True, SubscriptionArn=have_subs[key])
        after = dict(want, tags=want_tags)
        after["subscriptions"] = [
            {"protocol": pr, "endpoint": e} for pr, e in sorted((set(have_subs) - set(remove)) | set(add))
        ]
        result = {"changed": changed, "topic_arn": self.arn, "topic": after}
        if self.module._diff:
            result["diff"] = {"before": have or {}, "after": after}
        return result

    def absent(self):
        have, _subs = self.read()
        result = {"changed": have is not None, "topic_arn": self.arn, "topic": {}}
        if self.module._diff:
            result["diff"] = {"before": have or {}, "after": {}}
        if have is not None and not self.module.check_mode:
            self.client.delete_topic(aws_retry=True, TopicArn=self.arn)
        return result


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "display_name": {"type": "str", "default": ""},
            "kms_master_key_id": {"type": "str", "default": "", "no_log": False},
            "policy": {"type": "json"},
            "subscriptions": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "protocol": {
                        "type": "str",
                        "required": True,
                        "choices": [
                            "email",
                            "email-json",
                            "http",
                            "https",
                            "sqs",
                            "lambda",
                            "sms",
                            "application",
                            "firehose",
                        ],
                    },
                    "endpoint": {"type": "str", "required": True},
                },
            },
            "purge_subscriptions": {"type": "bool", "default": True},
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "purge_tags": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    if module.params["name"].endswith(".fifo"):
        module.fail_json(msg="this module manages standard topics; a .fifo name is a FIFO topic")
    try:
        manager = TopicManager(module)
        result = manager.present() if module.params["state"] == "present" else manager.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"SNS call failed for topic {module.params['name']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
