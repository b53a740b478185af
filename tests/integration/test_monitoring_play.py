"""The monitoring layer (playbooks/monitoring.yml) against a real local AWS (moto server).

One module-scoped chain, in the order an operator lives it: apply -> assert the AWS state
through boto3 -> apply again (changed == 0) -> ``--check`` (changed == 0) -> drift made
behind Ansible's back is predicted by ``--check --diff`` and repaired by the next apply ->
absent removes everything.  Tests below depend on that order (pytest runs them top to bottom).

What the local AWS cannot show: it turns no EMF line and no metric filter into a metric,
and evaluates no alarm.  What it can: EventBridge delivers matching events to the log group
target, so the rules' patterns are exercised with real events.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import run_playbook  # tests/conftest.py: the `playbook` fixture's runner

pytestmark = pytest.mark.integration

PLAY = "playbooks/monitoring.yml"
P = "lmpspot-local"
TOPIC = f"{P}-alerts"
KMS_ALIAS = f"alias/{P}-alerts"
JOB_LOGS = f"/aws/batch/{P}-jobs"
EVENT_LOGS = f"/aws/events/{P}-monitoring"
NAMESPACE = f"lmpspot/{P}"
ALARMS = {
    "checkpoint": f"{P}-checkpoint-stale",
    "failed": f"{P}-job-failed",
    "spot": f"{P}-spot-interruptions",
}
RULES = {"jobs": f"{P}-batch-job-states", "spot": f"{P}-spot-warnings"}
DASHBOARD = f"{P}-jobs"
BUDGET = f"{P}-monthly"
INTERVAL = 600  # inventories/local runner.yml lmpspot_checkpoint_interval
EMAIL = "oncall@example.org"
HOOK = "https://hooks.example.org/lmpspot"


def run(aws, *args, extra=None):
    ev = {
        "monitoring_subscriptions": [
            {"protocol": "email", "endpoint": EMAIL},
            {"protocol": "https", "endpoint": HOOK},
            {"protocol": "sqs", "endpoint": aws.queue_arn},
        ]
    }
    ev.update(extra or {})
    return run_playbook(PLAY, aws, *args, extra_vars=ev)


def test_modules_refuse_bad_inputs_and_predict_in_check_mode(aws):
    """Input errors fail with their message (6 rescued cases); check mode creates nothing."""
    res = run_playbook("tests/integration/playbooks/monitoring_modules.yml", aws)
    assert res.rc == 0, res
    assert re.search(r"rescued=6\b", res.stdout), res
    assert res.changed == 2, res  # the topic and the budget, predicted
    assert aws.client("sns").list_topics()["Topics"] == []
    account = aws.client("sts").get_caller_identity()["Account"]
    assert aws.client("budgets").describe_budgets(AccountId=account).get("Budgets", []) == []


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"monitoring_subscriptions": [{"protocol": "https", "endpoint": "http://plain.example.org"}]},
         "monitoring_subscriptions[0]: endpoint 'http://plain.example.org' must be an https:// URL"),
        ({"monitoring_log_retention_days": 8}, "monitoring_log_retention_days"),
        ({"monitoring_sns_kms_key_id": "alias/aws/sns"}, "alias/aws/sns"),
    ],
    ids=["https-subscriber-without-tls", "retention-not-a-cloudwatch-value", "aws-managed-sns-key"],
)  # fmt: skip
def test_role_refuses_bad_settings_before_touching_aws(aws, extra, named):
    res = run_playbook(PLAY, aws, extra_vars=extra)
    assert res.rc != 0 and res.failed == 1, res
    assert named in res.stdout, res
    assert aws.client("sns").list_topics()["Topics"] == []


def queue_arn(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.fixture(scope="module")
def chain(moto_server):
    """Empty the local AWS, run --check on it, then apply once."""
    moto_server.reset()
    moto_server.queue_arn = queue_arn(moto_server.client("sqs"), "lmpspot-test-alerts")
    out = {"aws": moto_server, "check_empty": run(moto_server, "--check")}
    out["topics_after_check"] = moto_server.client("sns").list_topics()["Topics"]
    t0 = time.monotonic()
    out["apply"] = run(moto_server)
    out["apply_s"] = time.monotonic() - t0
    return out


@pytest.fixture(scope="module")
def account(chain):
    return chain["aws"].client("sts").get_caller_identity()["Account"]


def topic_arn(aws, account):
    return f"arn:aws:sns:us-east-2:{account}:{TOPIC}"


def test_check_on_an_empty_account_predicts_and_creates_nothing(chain):
    assert chain["check_empty"].rc == 0, chain["check_empty"]
    assert chain["check_empty"].changed >= 10, chain["check_empty"]
    assert chain["topics_after_check"] == []


def test_apply(chain):
    assert chain["apply"].rc == 0, chain["apply"]
    assert chain["apply"].changed > 0


def test_topic_encrypted_with_publishers_only(chain, account):
    aws = chain["aws"]
    sns, kms = aws.client("sns"), aws.client("kms")
    attrs = sns.get_topic_attributes(TopicArn=topic_arn(aws, account))["Attributes"]
    assert attrs["KmsMasterKeyId"] == KMS_ALIAS
    policy = json.loads(attrs["Policy"])
    services = sorted(s["Principal"]["Service"] for s in policy["Statement"])
    assert services == ["budgets.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com"]
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and st["Action"] == "SNS:Publish"
        assert st["Resource"] == topic_arn(aws, account)
        assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn(aws, account))["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subs) == sorted(
        [("email", EMAIL), ("https", HOOK), ("sqs", aws.queue_arn)]
    )
    tags = {
        t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=topic_arn(aws, account))["Tags"]
    }
    assert tags["Project"] == "lmpspot" and tags["ManagedBy"] == "lmpspot"
    # The key the role made: rotated, and the publishing services may use it.
    alias = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == KMS_ALIAS)
    key_id = alias["TargetKeyId"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    key_policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    publish = next(s for s in key_policy["Statement"] if s["Sid"] == "PublishersEncrypt")
    assert sorted(publish["Principal"]["Service"]) == [
        "budgets.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
    ]
    assert sorted(publish["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]


def test_log_groups_and_resource_policy(chain, account):
    logs = chain["aws"].client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]}
    for name in (JOB_LOGS, EVENT_LOGS):
        assert groups[name]["retentionInDays"] == 30
    policies = {
        p["policyName"]: json.loads(p["policyDocument"])
        for p in logs.describe_resource_policies()["resourcePolicies"]
    }
    (stmt,) = policies[f"{P}-events-to-logs"]["Statement"]
    assert "events.amazonaws.com" in stmt["Principal"]["Service"]
    assert sorted(stmt["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert stmt["Resource"] == f"arn:aws:logs:us-east-2:{account}:log-group:{EVENT_LOGS}:*"
    # Only this account's two lmpspot rules may write (no confused deputy).
    assert stmt["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnEquals": {
            "aws:SourceArn": [f"arn:aws:events:us-east-2:{account}:rule/{r}" for r in RULES.values()]
        },
    }


def test_rules_route_events_to_the_log_group(chain, account):
    """The rules' patterns, exercised by real events through the local EventBridge."""
    aws = chain["aws"]
    events, logs = aws.client("events"), aws.client("logs")
    target = f"arn:aws:logs:us-east-2:{account}:log-group:{EVENT_LOGS}"
    for rule in RULES.values():
        (t,) = events.list_targets_by_rule(Rule=rule)["Targets"]
        assert t["Arn"] == target
    jobs = json.loads(events.describe_rule(Name=RULES["jobs"])["EventPattern"])
    assert jobs["detail"]["jobQueue"] == [{"prefix": f"arn:aws:batch:us-east-2:{account}:job-queue/{P}-"}]

    def batch(queue, status, reason=""):
        detail = {
            "jobName": f"sim-{queue}-{status}",
            "status": status,
            "statusReason": reason,
            "jobQueue": f"arn:aws:batch:us-east-2:{account}:job-queue/{queue}",
        }
        return {"Source": "aws.batch", "DetailType": "Batch Job State Change", "Detail": json.dumps(detail)}

    res = events.put_events(
        Entries=[
            batch(f"{P}-spot", "FAILED", "Host EC2 (instance i-0123) terminated."),
            batch(f"{P}-ondemand", "SUCCEEDED"),
            batch("someone-elses-queue", "FAILED"),
            {
                "Source": "aws.ec2",
                "DetailType": "EC2 Spot Instance Interruption Warning",
                "Detail": json.dumps({"instance-id": "i-0123", "instance-action": "terminate"}),
            },
        ]
    )
    assert res["FailedEntryCount"] == 0
    deadline = time.monotonic() + 10
    while True:
        msgs = [json.loads(e["message"]) for e in logs.filter_log_events(logGroupName=EVENT_LOGS)["events"]]
        if len(msgs) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    seen = sorted(
        (m["detail-type"], m["detail"].get("jobName", m["detail"].get("instance-id"))) for m in msgs
    )
    assert seen == [
        ("Batch Job State Change", f"sim-{P}-ondemand-SUCCEEDED"),
        ("Batch Job State Change", f"sim-{P}-spot-FAILED"),
        ("EC2 Spot Instance Interruption Warning", "i-0123"),
    ]


def test_metric_filters(chain):
    logs = chain["aws"].client("logs")
    filters = {
        f["filterName"]: f for f in logs.describe_metric_filters(logGroupName=EVENT_LOGS)["metricFilters"]
    }
    want = {
        f"state-{s.lower()}": f"JobsEntered{s.capitalize()}"
        for s in ("SUBMITTED", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
    }
    want.update(
        {"spot-interruption-warnings": "SpotInterruptionWarnings", "host-terminated": "JobsHostTerminated"}
    )
    assert {n: f["metricTransformations"][0]["metricName"] for n, f in filters.items()} == want
    for f in filters.values():
        (tr,) = f["metricTransformations"]
        assert tr["metricNamespace"] == NAMESPACE and tr["metricValue"] == "1"
    assert filters["state-failed"]["filterPattern"] == (
        '{ ($.detail-type = "Batch Job State Change") && ($.detail.status = "FAILED") }'
    )


def test_alarms(chain, account):
    cw = chain["aws"].client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix=P)["MetricAlarms"]}
    assert set(alarms) == set(ALARMS.values())
    topic = [topic_arn(chain["aws"], account)]
    ck = alarms[ALARMS["checkpoint"]]
    (query,) = ck["Metrics"]
    assert query["Expression"] == 'SELECT MAX(CheckpointAge) FROM SCHEMA("lmpspot", SimId)'
    assert query["Period"] == 300
    assert ck["Threshold"] == 2 * INTERVAL and ck["ComparisonOperator"] == "GreaterThanThreshold"
    assert ck["TreatMissingData"] == "notBreaching"
    assert ck["AlarmActions"] == topic and ck["OKActions"] == topic
    failed = alarms[ALARMS["failed"]]
    assert (failed["Namespace"], failed["MetricName"], failed["Statistic"]) == (
        NAMESPACE,
        "JobsEnteredFailed",
        "Sum",
    )
    assert failed["Threshold"] == 1 and failed["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    spot = alarms[ALARMS["spot"]]
    assert (spot["MetricName"], spot["Period"], spot["Threshold"]) == ("SpotInterruptionWarnings", 3600, 5)
    for a in (failed, spot):
        assert a["TreatMissingData"] == "notBreaching" and a["AlarmActions"] == topic


def test_dashboard(chain):
    body = json.loads(
        chain["aws"].client("cloudwatch").get_dashboard(DashboardName=DASHBOARD)["DashboardBody"]
    )
    text = json.dumps(body)
    for metric in (
        "NsPerDay",
        "CheckpointAge",
        "CheckpointSeconds",
        "GpuUtilization",
        "Interruptions",
        "StepsLost",
        "RecoverySeconds",
        "CapacityWaitSeconds",
        "SpotInterruptionWarnings",
        "JobsEnteredFailed",
        "JobsEnteredRunning",
    ):
        assert metric in text, metric
    age = next(
        w for w in body["widgets"] if w["properties"].get("title") == "Checkpoint age per simulation (s)"
    )
    assert age["properties"]["annotations"]["horizontal"][0]["value"] == 2 * INTERVAL
    (expr,) = (m["expression"] for m in age["properties"]["metrics"][0])
    assert expr == 'SELECT MAX(CheckpointAge) FROM SCHEMA("lmpspot", SimId) GROUP BY SimId'
    # the rest is fleet-level (no dimension); per-simulation progress is a Logs Insights widget
    fleet = [m["expression"] for w in body["widgets"] for m in w["properties"].get("metrics", [[]])[0]
             if isinstance(m, dict) and "SCHEMA(" in m.get("expression", "")]  # fmt: skip
    assert 'SELECT SUM(Interruptions) FROM SCHEMA("lmpspot")' in fleet
    progress = next(
        w for w in body["widgets"] if w["type"] == "log" and "Progress" in w["properties"]["query"]
    )
    assert "stats latest(Progress)" in progress["properties"]["query"]
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert sorted(a.rsplit(":", 1)[1] for a in alarm_widget["properties"]["alarms"]) == sorted(
        ALARMS.values()
    )


def test_budget(chain, account):
    budgets = chain["aws"].client("budgets", region="us-east-1")
    b = budgets.describe_budget(AccountId=account, BudgetName=BUDGET)["Budget"]
    assert float(b["BudgetLimit"]["Amount"]) == 500 and b["BudgetLimit"]["Unit"] == "USD"
    assert (b["TimeUnit"], b["BudgetType"]) == ("MONTHLY", "COST")
    notes = budgets.describe_notifications_for_budget(AccountId=account, BudgetName=BUDGET)["Notifications"]
    assert sorted((n["NotificationType"], n["Threshold"], n["ComparisonOperator"]) for n in notes) == [
        ("ACTUAL", 80.0, "GREATER_THAN"),
        ("ACTUAL", 100.0, "GREATER_THAN"),
        ("FORECASTED", 100.0, "GREATER_THAN"),
    ]


def test_reapply_and_check_change_nothing(chain):
    again = run(chain["aws"])
    assert again.rc == 0 and again.changed == 0, again
    check = run(chain["aws"], "--check")
    assert check.rc == 0 and check.changed == 0, check


def test_drift_is_predicted_then_repaired(chain, account):
    aws = chain["aws"]
    cw, sns, budgets, events = (
        aws.client("cloudwatch"),
        aws.client("sns"),
        aws.client("budgets"),
        aws.client("events"),
    )
    arn = topic_arn(aws, account)
    # Behind Ansible's back: a looser checkpoint alarm, an emptied dashboard, a dropped
    # budget alert, an unencrypted topic without its e-mail subscriber, a widened rule.
    cw.put_metric_alarm(
        AlarmName=ALARMS["checkpoint"],
        ComparisonOperator="GreaterThanThreshold",
        EvaluationPeriods=1,
        Threshold=99999,
        TreatMissingData="notBreaching",
        Metrics=[
            {
                "Id": "q",
                "Expression": 'SELECT MAX(CheckpointAge) FROM SCHEMA("lmpspot", SimId)',
                "Period": 300,
                "ReturnData": True,
            }
        ],
    )
    cw.put_dashboard(DashboardName=DASHBOARD, DashboardBody=json.dumps({"widgets": []}))
    budgets.delete_notification(
        AccountId=account,
        BudgetName=BUDGET,
        Notification={
            "NotificationType": "ACTUAL",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": 80.0,
            "ThresholdType": "PERCENTAGE",
        },
    )
    sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue="")
    email = next(
        s for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] if s["Protocol"] == "email"
    )
    sns.unsubscribe(SubscriptionArn=email["SubscriptionArn"])
    events.put_rule(Name=RULES["spot"], EventPattern=json.dumps({"source": ["aws.ec2"]}))

    check = run(aws, "--check", "--diff")
    assert check.rc == 0, check
    assert check.changed == 5, check  # topic, rule, alarm, dashboard, budget
    assert cw.describe_alarms(AlarmNames=[ALARMS["checkpoint"]])["MetricAlarms"][0]["Threshold"] == 99999
    assert "99999" in check.stdout and "1200.0" in check.stdout  # --diff shows before and after

    fix = run(aws)
    assert fix.rc == 0 and fix.changed == 5, fix
    assert (
        cw.describe_alarms(AlarmNames=[ALARMS["checkpoint"]])["MetricAlarms"][0]["Threshold"] == 2 * INTERVAL
    )
    assert len(json.loads(cw.get_dashboard(DashboardName=DASHBOARD)["DashboardBody"])["widgets"]) > 5
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["KmsMasterKeyId"] == KMS_ALIAS
    assert EMAIL in [s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]]
    assert (
        len(budgets.describe_notifications_for_budget(AccountId=account, BudgetName=BUDGET)["Notifications"])
        == 3
    )
    pattern = json.loads(events.describe_rule(Name=RULES["spot"])["EventPattern"])
    assert pattern["detail-type"] == ["EC2 Spot Instance Interruption Warning"]


def test_absent_removes_everything(chain, account):
    aws = chain["aws"]
    gone = run(aws, extra={"monitoring_state": "absent"})
    assert gone.rc == 0 and gone.changed > 0, gone
    cw, logs = aws.client("cloudwatch"), aws.client("logs")
    assert cw.describe_alarms(AlarmNamePrefix=P)["MetricAlarms"] == []
    assert [d for d in cw.list_dashboards()["DashboardEntries"] if d["DashboardName"] == DASHBOARD] == []
    names = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]]
    assert JOB_LOGS not in names and EVENT_LOGS not in names
    assert all(
        p["policyName"] != f"{P}-events-to-logs"
        for p in logs.describe_resource_policies()["resourcePolicies"]
    )
    assert [r for r in aws.client("events").list_rules(NamePrefix=P)["Rules"]] == []
    assert all(not t["TopicArn"].endswith(f":{TOPIC}") for t in aws.client("sns").list_topics()["Topics"])
    budgets = aws.client("budgets")
    assert all(
        b["BudgetName"] != BUDGET for b in budgets.describe_budgets(AccountId=account).get("Budgets", [])
    )
    # The local inventory keeps the topic's KMS key (monitoring_delete_kms_key: false; the
    # local AWS cannot schedule a key's deletion by ARN); a real account schedules it.
    assert KMS_ALIAS in [a["AliasName"] for a in aws.client("kms").list_aliases()["Aliases"]]
