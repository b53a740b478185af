#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: budget
short_description: An AWS Budgets budget and its notifications, idempotently
description:
  - Creates, updates or deletes an AWS Budgets cost budget and the notifications (alert
    thresholds) on it, each with its subscribers (SNS topics or e-mail addresses).
  - Neither amazon.aws nor community.aws has a Budgets module.
  - Compares first and changes only the difference. A notification is identified by its
    type, comparison, threshold and threshold type; one that is not listed in
    O(notifications) is deleted when O(purge_notifications) is true.
  - O(state=absent) deletes the budget with its notifications.
  - Supports check mode and diff.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Budget name (unique in the account).
    type: str
    required: true
  state:
    description: Whether the budget should exist.
    type: str
    choices: [present, absent]
    default: present
  account_id:
    description: Account that owns the budget; default the caller's account (C(sts:GetCallerIdentity)).
    type: str
  limit_amount:
    description: Budgeted amount per O(time_unit). Required when O(state=present).
    type: float
  currency:
    description: Unit of O(limit_amount).
    type: str
    default: USD
  time_unit:
    description: Period the amount is for.
    type: str
    choices: [DAILY, MONTHLY, QUARTERLY, ANNUALLY]
    default: MONTHLY
  budget_type:
    description: What the budget tracks.
    type: str
    choices: [COST, USAGE]
    default: COST
  cost_filters:
    description:
      - Cost filters as C(CreateBudget) takes them, a mapping of filter name to a list of
        values. For example the filter C(TagKeyValue) with the value C(user:Project$lmpspot)
        counts only resources tagged C(Project=lmpspot) (a cost allocation tag must be
        activated in Billing first). Empty means the whole account.
    type: dict
    default: {}
  notifications:
    description: Alert thresholds on the budget.
    type: list
    elements: dict
    default: []
    suboptions:
      threshold:
        description: Threshold (percent of the limit, or an amount, see O(notifications[].threshold_type)).
        type: float
        required: true
      threshold_type:
        description: How O(notifications[].threshold) is read.
        type: str
        choices: [PERCENTAGE, ABSOLUTE_VALUE]
        default: PERCENTAGE
      notification_type:
        description: Alert on actual spend or on the month's forecast.
        type: str
        choices: [ACTUAL, FORECASTED]
        default: ACTUAL
      comparison_operator:
        description: Comparison of spend with the threshold.
        type: str
        choices: [GREATER_THAN, LESS_THAN, EQUAL_TO]
        default: GREATER_THAN
      subscribers:
        description: Who is told (1-11 subscribers; at most one SNS topic).
        type: list
        elements: dict
        required: true
        suboptions:
          type:
            description: Subscriber kind.
            type: str
            choices: [SNS, EMAIL]
            required: true
          address:
            description: SNS topic ARN or e-mail address.
            type: str
            required: true
  purge_notifications:
    description: Delete notifications on the budget that O(notifications) does not list.
    type: bool
    default: true
  compare_subscribers:
    description:
      - Read the subscribers of existing notifications (C(DescribeSubscribersForNotification))
        and add or remove the difference. Turn off only against an API that lacks that call
        (the local AWS); new notifications always get their subscribers.
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(budgets:ViewBudget) and C(budgets:ModifyBudget) (and C(sts:GetCallerIdentity)
    without O(account_id)). An SNS subscriber's topic policy must let C(budgets.amazonaws.com)
    publish.
  - The budget's tags are not managed.
"""

EXAMPLES = r"""
- name: Monthly budget with alerts at 80% actual and 100% forecast
  lmpspot.aws.budget:
    name: lmpspot-prod-monthly
    limit_amount: 500
    notifications:
      - threshold: 80
        subscribers: [{type: SNS, address: "{{ topic_arn }}"}]
      - threshold: 100
        notification_type: FORECASTED
        subscribers: [{type: SNS, address: "{{ topic_arn }}"}]
"""

RETURN = r"""
budget:
  description: The budget after the task; empty when absent.
  returned: always
  type: dict
  contains:
    name: {description: Budget name., type: str}
    limit_amount: {description: Budgeted amount., type: float}
    currency: {description: Unit of the amount., type: str}
    time_unit: {description: Period., type: str}
    budget_type: {description: COST or USAGE., type: str}
    cost_filters: {description: Cost filters., type: dict}
notifications:
  description: The notifications after the task, each with its subscribers when known.
  returned: always
  type: list
  elements: dict
"""

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


def norm_filters(filters):
    return {
        str(k): sorted(str(v) for v in (vals if isinstance(vals, list) else [vals]))
        for k, vals in (filters or {}).items()
    }


def budget_facts(budget):
    if not budget:
        return {}
    limit = budget.get("BudgetLimit") or {}
    return {
        "name": budget["BudgetName"],
        "limit_amount": float(limit.get("Amount", 0)),
        "currency": limit.get("Unit"),
        "time_unit": budget.get("TimeUnit"),
        "budget_type": budget.get("BudgetType"),
        "cost_filters": norm_filters(budget.get("CostFilters")),
    }


def note_key(n):
    """A notification's identity: (type, comparison, threshold, threshold type)."""
    return (
        n["NotificationType"],
        n["ComparisonOperator"],
        float(n["Threshold"]),
        n.get("ThresholdType", "PERCENTAGE"),
    )


def note_api(key):
    return {
        "NotificationType": key[0],
        "ComparisonOperator": key[1],
        "Threshold": key[2],
        "ThresholdType": key[3],
    }


def note_facts(key, subscribers):
    out = {
        "notification_type": key[0],
        "comparison_operator": key[1],
        "threshold": key[2],
        "threshold_type": key[3],
    }
    if subscribers is not None:
        out["subscribers"] = [{"type": t, "address": a} for t, a in sorted(subscribers)]
    return out


def subscriber_changes(want_notes, have_notes):
    """key -> (subscribers to add, subscribers to remove) for kept notifications whose differ."""
    sub_changes = {}
    for key, subs in want_notes.items():
        if key in have_notes and have_notes[key] is not None and have_notes[key] != subs:
            sub_changes[key] = (subs - have_notes[key], have_notes[key] - subs)
    return sub_changes


class BudgetManager:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.client = module.client("budgets", retry_decorator=AWSRetry.jittered_backoff())
        self.account = self.p["account_id"] or module.client("sts").get_caller_identity()["Account"]
        self.base = {"AccountId": self.account, "BudgetName": self.p["name"]}

    def describe(self):
        try:
            return self.client.describe_budget(aws_retry=True, **self.base)["Budget"]
        except is_boto3_error_code("NotFoundException"):
            return None

    def notifications(self):
        out, token = [], None
        while True:
            kwargs = dict(self.base, NextToken=token) if token else dict(self.base)
            res = self.client.describe_notifications_for_budget(aws_retry=True, **kwargs)
            out.extend(res.get("Notifications", []))
            token = res.get("NextToken")
            if not token:
                return {note_key(n) for n in out}

    def subscribers(self, key):
        out, token = [], None
        while True:
            kwargs = dict(self.base, Notification=note_api(key))
            if token:
                kwargs["NextToken"] = token
            res = self.client.describe_subscribers_for_notification(aws_retry=True, **kwargs)
            out.extend(res.get("Subscribers", []))
            token = res.get("NextToken")
            if not token:
                return {(s["SubscriptionType"], s["Address"]) for s in out}

    def wanted(self):
        want = {}
        for n in self.p["notifications"]:
            key = (
                n["notification_type"],
                n["comparison_operator"],
                float(n["threshold"]),
                n["threshold_type"],
            )
            if key in want:
                self.module.fail_json(msg=f"notifications lists {note_facts(key, None)} twice")
            subs = {(s["type"], s["address"]) for s in n["subscribers"]}
            if not 1 <= len(subs) <= 11:
                self.module.fail_json(msg=f"notification {note_facts(key, None)} needs 1-11 subscribers")
            want[key] = subs
        return want

    def present(self):
        p = self.p
        want_budget = {
            "name": p["name"],
            "limit_amount": float(p["limit_amount"]),
            "currency": p["currency"],
            "time_unit": p["time_unit"],
            "budget_type": p["budget_type"],
            "cost_filters": norm_filters(p["cost_filters"]),
        }
        want_notes = self.wanted()
        current = self.describe()
        have_budget = budget_facts(current)
        have_notes = self.have_notifications(current, want_notes)
        budget_differs = have_budget != want_budget
        to_create = [k for k in want_notes if k not in have_notes]
        to_delete = [k for k in have_notes if k not in want_notes] if p["purge_notifications"] else []
        sub_changes = subscriber_changes(want_notes, have_notes)
        changed = budget_differs or bool(to_create or to_delete or sub_changes)

        if changed and not self.module.check_mode:
            api_budget = {
                "BudgetName": p["name"],
                "BudgetLimit": {"Amount": repr(float(p["limit_amount"])), "Unit": p["currency"]},
                "TimeUnit": p["time_unit"],
                "BudgetType": p["budget_type"],
                "CostFilters": want_budget["cost_filters"],
            }
            if current is None:
                self.client.create_budget(
                    aws_retry=True,
                    AccountId=self.account,
                    Budget=api_budget,
                    NotificationsWithSubscribers=[
                        {"Notification": note_api(k), "Subscribers": self.api_subs(want_notes[k])}
                        for k in to_create
                    ],
                )
            else:
                if budget_differs:
                    if current.get("CostTypes"):
                        api_budget["CostTypes"] = current["CostTypes"]
                    self.client.update_budget(aws_retry=True, AccountId=self.account, NewBudget=api_budget)
                self.update_notifications(to_delete, {k: want_notes[k] for k in to_create}, sub_changes)
        after_notes = {k: v for k, v in have_notes.items() if k not in to_delete}
        after_notes.update({k: want_notes[k] for k in to_create})
        after_notes.update({k: want_notes[k] for k in sub_changes})
        result = {
            "changed": changed,
            "budget": want_budget,
            "notifications": [note_facts(k, after_notes[k]) for k in sorted(after_notes)],
        }
        if self.module._diff:
            result["diff"] = {
                "before": {
                    "budget": have_budget,
                    "notifications": [note_facts(k, have_notes[k]) for k in sorted(have_notes)],
                },
                "after": {"budget": want_budget, "notifications": result["notifications"]},
            }
        return result

    def have_notifications(self, current, want_notes):
        """The budget's notifications: key -> subscribers (None where they are not compared)."""
        have_notes = {}
        if current is not None:
            for key in self.notifications():
                have_notes[key] = (
                    self.subscribers(key) if self.p["compare_subscribers"] and key in want_notes else None
                )
        return have_notes

    def update_notifications(self, to_delete, to_create, sub_changes):
        """Delete, then create notifications, then add and remove subscribers of kept ones."""
        for key in to_delete:
            self.client.delete_notification(aws_retry=True, Notification=note_api(key), **self.base)
        for key, subs in to_create.items():
            self.client.create_notification(
                aws_retry=True,
                Notification=note_api(key),
                Subscribers=self.api_subs(subs),
                **self.base,
            )
        for key, (add, remove) in sub_changes.items():
            for t, a in sorted(add):
                self.client.create_subscriber(
                    aws_retry=True,
                    Notification=note_api(key),
                    Subscriber={"SubscriptionType": t, "Address": a},
                    **self.base,
                )
            for t, a in sorted(remove):
                self.client.delete_subscriber(
                    aws_retry=True,
                    Notification=note_api(key),
                    Subscriber={"SubscriptionType": t, "Address": a},
                    **self.base,
                )

    @staticmethod
    def api_subs(subs):
        return [{"SubscriptionType": t, "Address": a} for t, a in sorted(subs)]

    def absent(self):
        current = self.describe()
        result = {"changed": current is not None, "budget": {}, "notifications": []}
        if self.module._diff:
            result["diff"] = {"before": {"budget": budget_facts(current)}, "after": {}}
        if current is not None and not self.module.check_mode:
            with contextlib.suppress(is_boto3_error_code("NotFoundException")):
                self.client.delete_budget(aws_retry=True, **self.base)
        return result


def main():
    subscriber_spec = {
        "type": {"type": "str", "required": True, "choices": ["SNS", "EMAIL"]},
        "address": {"type": "str", "required": True},
    }
    notification_spec = {
        "threshold": {"type": "float", "required": True},
        "threshold_type": {
            "type": "str",
            "choices": ["PERCENTAGE", "ABSOLUTE_VALUE"],
            "default": "PERCENTAGE",
        },
        "notification_type": {"type": "str", "choices": ["ACTUAL", "FORECASTED"], "default": "ACTUAL"},
        "comparison_operator": {
            "type": "str",
            "choices": ["GREATER_THAN", "LESS_THAN", "EQUAL_TO"],
            "default": "GREATER_THAN",
        },
        "subscribers": {"type": "list", "elements": "dict", "required": True, "options": subscriber_spec},
    }
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "account_id": {"type": "str"},
            "limit_amount": {"type": "float"},
            "currency": {"type": "str", "default": "USD"},
            "time_unit": {
                "type": "str",
                "choices": ["DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY"],
                "default": "MONTHLY",
            },
            "budget_type": {"type": "str", "choices": ["COST", "USAGE"], "default": "COST"},
            "cost_filters": {"type": "dict", "default": {}},
            "notifications": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": notification_spec,
            },
            "purge_notifications": {"type": "bool", "default": True},
            "compare_subscribers": {"type": "bool", "default": True},
        },
        required_if=[("state", "present", ["limit_amount"])],
        supports_check_mode=True,
    )
    if module.params["state"] == "present" and module.params["limit_amount"] <= 0:
        module.fail_json(msg=f"limit_amount must be > 0, got {module.params['limit_amount']}")
    try:
        manager = BudgetManager(module)
        result = manager.present() if module.params["state"] == "present" else manager.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"AWS Budgets call failed for budget {module.params['name']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
