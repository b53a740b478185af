"""lmpspot.aws.budget against real-account API shapes the local AWS cannot serve.

The local AWS lacks DescribeSubscribersForNotification, CreateSubscriber/DeleteSubscriber
and UpdateBudget, so the real-account path (compare_subscribers: true, a changed limit)
is checked here with botocore's Stubber: each case states the account's current budget,
notifications and subscribers as AWS returns them and the exact calls the module must
make - and in check mode, that it makes none.  The Stubber fails the test on any call
that was not expected, with other parameters, or in another order.
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.lmpspot.aws.plugins.modules import budget
from botocore.stub import Stubber

ACCOUNT = "123456789012"
TOPIC = f"arn:aws:sns:us-east-2:{ACCOUNT}:lmpspot-prod-alerts"
BASE = {"AccountId": ACCOUNT, "BudgetName": "lmpspot-prod-monthly"}
N80 = {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN", "Threshold": 80.0,
       "ThresholdType": "PERCENTAGE"}  # fmt: skip
F100 = {"NotificationType": "FORECASTED", "ComparisonOperator": "GREATER_THAN", "Threshold": 100.0,
        "ThresholdType": "PERCENTAGE"}  # fmt: skip
SNS_SUB = {"SubscriptionType": "SNS", "Address": TOPIC}
MAIL_SUB = {"SubscriptionType": "EMAIL", "Address": "old@example.org"}


def current_budget(amount="500.0"):
    return {
        "BudgetName": BASE["BudgetName"],
        "BudgetLimit": {"Amount": amount, "Unit": "USD"},
        "CostTypes": {"IncludeTax": True},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }


class FakeModule:
    """What budget.BudgetManager uses of AnsibleAWSModule: params, modes, clients, warnings."""

    def __init__(self, client, check_mode=False, **params):
        self.params = {
            "name": BASE["BudgetName"], "state": "present", "account_id": ACCOUNT, "limit_amount": 500.0,
            "currency": "USD", "time_unit": "MONTHLY", "budget_type": "COST", "cost_filters": {},
            "notifications": [
                {"threshold": 80.0, "threshold_type": "PERCENTAGE", "notification_type": "ACTUAL",
                 "comparison_operator": "GREATER_THAN", "subscribers": [{"type": "SNS", "address": TOPIC}]},
            ],
            "purge_notifications": True, "compare_subscribers": True,
        }  # fmt: skip
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = True
        self._client = client

    def client(self, service, retry_decorator=None):
        assert service == "budgets"
        return RetryingBotoClientWrapper(self._client, retry_decorator or AWSRetry.jittered_backoff())


@pytest.fixture
def stubbed():
    client = boto3.client(
        "budgets", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def reads(stub, budget_obj, notes, subs_by_note):
    stub.add_response("describe_budget", {"Budget": budget_obj}, BASE)
    stub.add_response("describe_notifications_for_budget", {"Notifications": notes}, BASE)
    for note, subs in subs_by_note:
        stub.add_response("describe_subscribers_for_notification", {"Subscribers": subs},
                          {**BASE, "Notification": note})  # fmt: skip


def test_in_sync_makes_no_call(stubbed):
    client, stub = stubbed
    reads(stub, current_budget(), [N80], [(N80, [SNS_SUB])])
    result = budget.BudgetManager(FakeModule(client)).present()
    assert result["changed"] is False
    assert result["notifications"][0]["subscribers"] == [{"type": "SNS", "address": TOPIC}]


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
def test_subscriber_drift_is_repaired_and_only_in_apply(stubbed, check_mode):
    """Someone swapped the topic for an e-mail address on the 80 % alert."""
    client, stub = stubbed
    reads(stub, current_budget(), [N80], [(N80, [MAIL_SUB])])
    if not check_mode:
        stub.add_response("create_subscriber", {}, {**BASE, "Notification": N80, "Subscriber": SNS_SUB})
        stub.add_response("delete_subscriber", {}, {**BASE, "Notification": N80, "Subscriber": MAIL_SUB})
    result = budget.BudgetManager(FakeModule(client, check_mode=check_mode)).present()
    assert result["changed"] is True
    before = result["diff"]["before"]["notifications"][0]["subscribers"]
    assert before == [{"type": "EMAIL", "address": "old@example.org"}]


def test_limit_change_updates_in_place_keeping_cost_types(stubbed):
    client, stub = stubbed
    reads(stub, current_budget("400"), [N80], [(N80, [SNS_SUB])])
    new = {**current_budget("500.0"), "CostFilters": {}}
    stub.add_response("update_budget", {}, {"AccountId": ACCOUNT, "NewBudget": new})
    result = budget.BudgetManager(FakeModule(client)).present()
    assert result["changed"] is True
    assert result["diff"]["before"]["budget"]["limit_amount"] == 400.0


def test_notifications_added_and_purged(stubbed):
    """The account has a forecast alert nobody listed; the listed 80 % alert is missing."""
    client, stub = stubbed
    stub.add_response("describe_budget", {"Budget": current_budget()}, BASE)
    stub.add_response("describe_notifications_for_budget", {"Notifications": [F100]}, BASE)
    stub.add_response("delete_notification", {}, {**BASE, "Notification": F100})
    stub.add_response("create_notification", {}, {**BASE, "Notification": N80, "Subscribers": [SNS_SUB]})
    result = budget.BudgetManager(FakeModule(client)).present()
    assert result["changed"] is True
    assert [n["notification_type"] for n in result["notifications"]] == ["ACTUAL"]


def test_new_budget_is_created_with_its_notifications(stubbed):
    client, stub = stubbed
    stub.add_client_error("describe_budget", "NotFoundException", expected_params=BASE)
    stub.add_response("create_budget", {}, {
        "AccountId": ACCOUNT,
        "Budget": {"BudgetName": BASE["BudgetName"], "BudgetLimit": {"Amount": "500.0", "Unit": "USD"},
                   "TimeUnit": "MONTHLY", "BudgetType": "COST", "CostFilters": {}},
        "NotificationsWithSubscribers": [{"Notification": N80, "Subscribers": [SNS_SUB]}],
    })  # fmt: skip
    assert budget.BudgetManager(FakeModule(client)).present()["changed"] is True


def test_absent_deletes_only_an_existing_budget(stubbed):
    client, stub = stubbed
    stub.add_response("describe_budget", {"Budget": current_budget()}, BASE)
    stub.add_response("delete_budget", {}, BASE)
    assert budget.BudgetManager(FakeModule(client, state="absent")).absent()["changed"] is True
    stub.add_client_error("describe_budget", "NotFoundException", expected_params=BASE)
    assert budget.BudgetManager(FakeModule(client, state="absent")).absent()["changed"] is False
