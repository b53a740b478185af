#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eventbridge_log_rule
short_description: An EventBridge rule whose one target is a CloudWatch Logs log group
description:
  - Creates, updates or deletes an EventBridge rule with an event pattern and exactly one
    target, a CloudWatch Logs log group. Every matching event is written to the group as one
    JSON log event, where metric filters can count it (no Lambda function needed).
  - EventBridge needs a CloudWatch Logs resource policy that lets C(events.amazonaws.com)
    write to the group (see M(lmpspot.aws.cloudwatchlogs_resource_policy)); the log group's
    name should start with C(/aws/events/).
  - C(amazon.aws.cloudwatchevent_rule) has no check mode and no tags; this module has both.
  - Compares first and changes only the difference. Event patterns are compared as JSON
    values (key order and spacing do not matter). Other targets on the rule are removed.
  - O(state=absent) removes the rule's targets, then the rule.
version_added: 0.2.0
author: lmpspot developers
options:
  name:
    description: Name of the rule.
    type: str
    required: true
  state:
    description: Whether the rule should exist.
    type: str
    choices: [present, absent]
    default: present
  event_bus_name:
    description: Event bus of the rule.
    type: str
    default: default
  description:
    description: Description of the rule.
    type: str
    default: ""
  event_pattern:
    description: Event pattern (a mapping, or its JSON text). Required when O(state=present).
    type: json
  enabled:
    description: Whether the rule is C(ENABLED).
    type: bool
    default: true
  target_id:
    description: Id of the target on the rule.
    type: str
    default: logs
  log_group_arn:
    description:
      - ARN of the target log group, without the trailing C(:*). Required when O(state=present).
    type: str
  tags:
    description: Tags of the rule.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not listed in O(tags).
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(events:DescribeRule), C(events:PutRule), C(events:DeleteRule),
    C(events:ListTargetsByRule), C(events:PutTargets), C(events:RemoveTargets),
    C(events:ListTagsForResource), C(events:TagResource) and C(events:UntagResource).
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Record EC2 Spot interruption warnings in a log group
  lmpspot.aws.eventbridge_log_rule:
    name: lmpspot-prod-spot-warnings
    event_pattern:
      source: [aws.ec2]
      detail-type: [EC2 Spot Instance Interruption Warning]
    log_group_arn: arn:aws:logs:us-east-2:123456789012:log-group:/aws/events/lmpspot-prod-monitoring
"""

RETURN = r"""
rule:
  description: The rule after the run (snake_case); empty when absent.
  returned: always
  type: dict
  contains:
    arn: {description: Rule ARN., type: str}
    name: {description: Rule name., type: str}
    event_pattern: {description: Event pattern (JSON text)., type: str}
    state: {description: ENABLED or DISABLED., type: str}
    tags: {description: Tags., type: dict}
target:
  description: The rule's target after the run, as the API spells it (PascalCase); empty when absent.
  returned: always
  type: dict
arn:
  description: ARN of the rule.
  returned: when state=present and the rule exists
  type: str
"""

import contextlib
import json

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


def desired_target(p):
    return {"Id": p["target_id"], "Arn": p["log_group_arn"]}


def comparable_target(target):
    """A target as PutTargets takes it (Id and Arn; anything else on it is a difference)."""
    if not target:
        return None
    return {k: v for k, v in target.items() if k not in ("ResponseMetadata",)}


def pattern_value(text):
    return json.loads(text) if isinstance(text, str) else text


class Runner:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.client = module.client("events", retry_decorator=AWSRetry.jittered_backoff())

    def describe(self):
        try:
            rule = self.client.describe_rule(
                Name=self.p["name"], EventBusName=self.p["event_bus_name"], aws_retry=True
            )
        except is_boto3_error_code("ResourceNotFoundException"):
            return None
        rule.pop("ResponseMetadata", None)
        return rule

    def targets(self):
        out, token = [], None
        while True:
            kwargs = {"Rule": self.p["name"], "EventBusName": self.p["event_bus_name"]}
            if token:
                kwargs["NextToken"] = token
            res = self.client.list_targets_by_rule(aws_retry=True, **kwargs)
            out.extend(res.get("Targets", []))
            token = res.get("NextToken")
            if not token:
                return out

    def tags(self, arn):
        res = self.client.list_tags_for_resource(ResourceARN=arn, aws_retry=True)
        return {t["Key"]: t["Value"] for t in res.get("Tags", [])}

    def facts(self, rule, tags, target):
        if not rule:
            return {}, {}
        facts = camel_dict_to_snake_dict({k: v for k, v in rule.items() if k != "EventPattern"})
        facts["event_pattern"] = rule.get("EventPattern")
        facts["tags"] = tags or {}
        return facts, target or {}

    def present(self):
        p = self.p
        try:
            pattern = pattern_value(p["event_pattern"])
        except ValueError as exc:
            self.module.fail_json(msg=f"event_pattern is not valid JSON: {exc}")
        want_state = "ENABLED" if p["enabled"] else "DISABLED"
        want_target = desired_target(p)
        result = {"changed": False}
        current = self.describe()
        cur_targets = self.targets() if current else []
        cur_tags = self.tags(current["Arn"]) if current else {}
        mine = [t for t in cur_targets if t["Id"] == p["target_id"]]
        others = [t["Id"] for t in cur_targets if t["Id"] != p["target_id"]]
        cur_target = comparable_target(mine[0]) if mine else None

        rule_differs = current is None or (
            pattern_value(current.get("EventPattern") or "null") != pattern
            or current.get("State") != want_state
            or (current.get("Description") or "") != (p["description"] or "")
        )
        target_differs = cur_target != comparable_target(want_target)
        to_set, to_remove = {}, []
        if p["tags"] is not None:
            to_set = {k: str(v) for k, v in p["tags"].items() if cur_tags.get(k) != str(v)}
            if p["purge_tags"]:
                to_remove = sorted(k for k in cur_tags if k not in p["tags"])
        changed = rule_differs or target_differs or bool(others) or bool(to_set) or bool(to_remove)
        result["changed"] = changed

        after_rule, after_tags, after_target = current, cur_tags, mine[0] if mine else None
        if changed and not self.module.check_mode:
            if rule_differs:
                kwargs = {
                    "Name": p["name"],
                    "EventBusName": p["event_bus_name"],
                    "EventPattern": json.dumps(pattern, sort_keys=True),
                    "State": want_state,
                    "Description": p["description"] or "",
                }
                if current is None and p["tags"]:
                    kwargs["Tags"] = [{"Key": k, "Value": str(v)} for k, v in p["tags"].items()]
                self.client.put_rule(aws_retry=True, **kwargs)
            if others:
                self.client.remove_targets(
                    Rule=p["name"], EventBusName=p["event_bus_name"], Ids=others, aws_retry=True
                )
            if target_differs:
                res = self.client.put_targets(
                    Rule=p["name"], EventBusName=p["event_bus_name"], Targets=[want_target], aws_retry=True
                )
                if res.get("FailedEntryCount"):
                    self.module.fail_json(msg=f"PutTargets failed: {res.get('FailedEntries')}")
            after_rule = self.describe()
            arn = after_rule["Arn"]
            if current is not None:
                if to_remove:
                    self.client.untag_resource(ResourceARN=arn, TagKeys=to_remove, aws_retry=True)
                if to_set:
                    self.client.tag_resource(
                        ResourceARN=arn,
                        Tags=[{"Key": k, "Value": v} for k, v in to_set.items()],
                        aws_retry=True,
                    )
            after_tags = self.tags(arn)
            mine = [t for t in self.targets() if t["Id"] == p["target_id"]]
            after_target = mine[0] if mine else None
        elif changed:  # check mode: what apply would leave
            after_rule = dict(current or {"Name": p["name"], "EventBusName": p["event_bus_name"]})
            after_rule.update(
                EventPattern=json.dumps(pattern, sort_keys=True),
                State=want_state,
                Description=p["description"],
            )
            if p["tags"] is not None:
                after_tags = {} if p["purge_tags"] else dict(cur_tags)
                after_tags.update({k: str(v) for k, v in p["tags"].items()})
            after_target = want_target
        rule_facts, target_facts = self.facts(after_rule, after_tags, after_target)
        if self.module._diff:
            before_rule, before_target = self.facts(current, cur_tags, mine[0] if current and mine else None)
            result["diff"] = {
                "before": {"rule": before_rule, "target": before_target if current else {}},
                "after": {"rule": rule_facts, "target": target_facts},
            }
        result["rule"] = rule_facts
        result["target"] = target_facts
        result["arn"] = rule_facts.get("arn")
        return result

    def absent(self):
        p = self.p
        result = {"changed": False, "rule": {}, "target": {}}
        current = self.describe()
        if current is None:
            return result
        result["changed"] = True
        if self.module._diff:
            before_rule, _ = self.facts(current, self.tags(current["Arn"]), None)
            result["diff"] = {"before": {"rule": before_rule}, "after": {}}
        if self.module.check_mode:
            return result
        ids = [t["Id"] for t in self.targets()]
        if ids:
            self.client.remove_targets(
                Rule=p["name"], EventBusName=p["event_bus_name"], Ids=ids, aws_retry=True
            )
        try:
            self.client.delete_rule(Name=p["name"], EventBusName=p["event_bus_name"], aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            pass
        return result


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "event_bus_name": {"type": "str", "default": "default"},
            "description": {"type": "str", "default": ""},
            "event_pattern": {"type": "json"},
            "enabled": {"type": "bool", "default": True},
            "target_id": {"type": "str", "default": "logs"},
            "log_group_arn": {"type": "str"},
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "purge_tags": {"type": "bool", "default": True},
        },
        required_if=[
            (
                "state",
                "present",
                ["event_pattern", "log_group_arn"],
            ),
        ],
        supports_check_mode=True,
    )
    arn = module.params["log_group_arn"]
    if arn and (not arn.startswith("arn:") or ":log-group:" not in arn or arn.endswith(":*")):
        module.fail_json(msg=f"log_group_arn must be a log group ARN without the trailing ':*', got {arn}")
    runner = Runner(module)
    try:
        result = runner.present() if module.params["state"] == "present" else runner.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"EventBridge call failed for rule {module.params['name']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
