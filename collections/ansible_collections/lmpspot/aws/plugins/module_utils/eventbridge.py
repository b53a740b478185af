# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared logic of the lmpspot.aws.eventbridge_* modules: one EventBridge rule with one target.

The modules differ only in their target (its options, how it is built and how it is
compared); the rule's read/compare/put/tag/delete steps and the results live here.
"""

from __future__ import annotations

import contextlib
import json

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import str_values, tag_changes, tags_after

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

# The options every eventbridge_* module has (each adds its target's own options).
RULE_ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "event_bus_name": {"type": "str", "default": "default"},
    "description": {"type": "str", "default": ""},
    "event_pattern": {"type": "json"},
    "enabled": {"type": "bool", "default": True},
}
TAG_ARGUMENT_SPEC = {
    "tags": {"type": "dict", "aliases": ["resource_tags"]},
    "purge_tags": {"type": "bool", "default": True},
}


def pattern_value(text):
    return json.loads(text) if isinstance(text, str) else text


class RuleManager:
    """Read, compare, put and delete one EventBridge rule with exactly one target.

    ``desired_target(params)`` builds the target as PutTargets takes it;
    ``comparable_target(target)`` normalizes a target (wanted or read back) for comparison.
    """

    def __init__(self, module, desired_target, comparable_target):
        self.module = module
        self.desired_target = desired_target
        self.comparable_target = comparable_target
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
        want_target = self.desired_target(p)
        current = self.describe()
        cur_targets = self.targets() if current else []
        cur_tags = self.tags(current["Arn"]) if current else {}
        mine = [t for t in cur_targets if t["Id"] == p["target_id"]]
        others = [t["Id"] for t in cur_targets if t["Id"] != p["target_id"]]
        cur_target = self.comparable_target(mine[0]) if mine else None

        rule_differs = self._rule_differs(current, pattern, want_state)
        target_differs = cur_target != self.comparable_target(want_target)
        want_tags = str_values(p["tags"])
        to_set, to_remove = tag_changes(cur_tags, want_tags, p["purge_tags"])
        changed = rule_differs or target_differs or bool(others) or bool(to_set) or bool(to_remove)
        result = {"changed": changed}

        after_rule, after_tags, after_target = current, cur_tags, mine[0] if mine else None
        if changed and not self.module.check_mode:
            if rule_differs:
                self._put_rule(current, pattern, want_state)
            self._put_target(others, want_target if target_differs else None)
            after_rule = self.describe()
            if current is not None:
                self._retag(after_rule["Arn"], to_set, to_remove)
            after_tags = self.tags(after_rule["Arn"])
            mine = [t for t in self.targets() if t["Id"] == p["target_id"]]
            after_target = mine[0] if mine else None
        elif changed:  # check mode: what apply would leave
            after_rule = dict(current or {"Name": p["name"], "EventBusName": p["event_bus_name"]})
            after_rule.update(
                EventPattern=json.dumps(pattern, sort_keys=True),
                State=want_state,
                Description=p["description"],
            )
            if want_tags is not None:
                after_tags = tags_after(cur_tags, want_tags, p["purge_tags"])
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

    def _rule_differs(self, current, pattern, want_state):
        return current is None or (
            pattern_value(current.get("EventPattern") or "null") != pattern
            or current.get("State") != want_state
            or (current.get("Description") or "") != (self.p["description"] or "")
        )

    def _put_rule(self, current, pattern, want_state):
        """PutRule with the wanted pattern, state and description; tags only on create."""
        p = self.p
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

    def _put_target(self, others, want_target):
        """Remove the targets that are not ours, then put ours when ``want_target`` is given."""
        p = self.p
        if others:
            self.client.remove_targets(
                Rule=p["name"], EventBusName=p["event_bus_name"], Ids=others, aws_retry=True
            )
        if want_target is not None:
            res = self.client.put_targets(
                Rule=p["name"], EventBusName=p["event_bus_name"], Targets=[want_target], aws_retry=True
            )
            if res.get("FailedEntryCount"):
                self.module.fail_json(msg=f"PutTargets failed: {res.get('FailedEntries')}")

    def _retag(self, arn, to_set, to_remove):
        if to_remove:
            self.client.untag_resource(ResourceARN=arn, TagKeys=to_remove, aws_retry=True)
        if to_set:
            self.client.tag_resource(
                ResourceARN=arn,
                Tags=[{"Key": k, "Value": v} for k, v in to_set.items()],
                aws_retry=True,
            )

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


def run(module, desired_target, comparable_target):
    """Apply the module's wanted state and exit with the result."""
    manager = RuleManager(module, desired_target, comparable_target)
    try:
        result = manager.present() if module.params["state"] == "present" else manager.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"EventBridge call failed for rule {module.params['name']}")
    module.exit_json(**result)
