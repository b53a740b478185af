"""Every live resource of one deployment in an AWS account, found through boto3.

Used by the teardown tests: after ``playbooks/teardown.yml`` nothing of the deployment may
remain but (by default) its results bucket. Two sources, so that a new layer is covered
without editing this file:

* the Resource Groups Tagging API (``get_resources`` filtered on the Project and
  Environment tags), which reaches every taggable service the account (or the local AWS)
  indexes, and
* explicit listings of the services the project uses, for resources that API leaves out
  (in the local AWS: IAM, Batch job definitions, scheduler schedules, ...) and to tell a
  live resource from a dead one the tagging index still returns (terminated instances,
  deleted NAT gateways and endpoints, INACTIVE job definitions).

A resource counts as the deployment's when it carries ``Project=<project>`` and
``Environment=<environment>`` tags, or, for resources that carry no tags in the local
AWS, when its name starts with ``<project>-<environment>-``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# States in which a resource is gone (or going) and no longer costs anything.
DEAD_STATES = {
    "terminated",
    "shutting-down",
    "deleted",
    "deleting",
    "failed",
    "INACTIVE",
    "DELETED",
    "DELETING",
    "PendingDeletion",  # KMS keys: AWS never deletes one at once
}


def _tags(raw: Any) -> dict[str, str]:
    """Tags in any of boto3's shapes (list of Key/Value or key/value, or a dict)."""
    if not raw:
        return {}
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    out = {}
    for t in raw:
        key = t.get("Key", t.get("key", t.get("TagKey")))
        value = t.get("Value", t.get("value", t.get("TagValue", "")))
        out[str(key)] = str(value)
    return out


class Scan:
    """``Scan(client_factory, project, environment).live()`` -> sorted resource names."""

    def __init__(self, client: Callable[[str], Any], project: str, environment: str) -> None:
        self.client = client
        self.project = project
        self.environment = environment
        self.prefix = f"{project}-{environment}-"
        self.found: dict[str, str] = {}  # id or ARN -> description
        self.dead: set[str] = set()
        self.errors: list[str] = []

    # -- helpers --------------------------------------------------------------------------
    def ours(self, tags: Any = None, name: str | None = None) -> bool:
        t = _tags(tags)
        if t.get("Project") == self.project and t.get("Environment") == self.environment:
            return True
        return bool(name) and name.startswith(self.prefix)

    def add(self, key: str, what: str, state: str | None = None) -> None:
        if state in DEAD_STATES:
            self.dead.add(key)
        else:
            self.found[key] = what

    def _each(
        self,
        items: Iterable[dict],
        kind: str,
        id_key: str,
        *,
        name_key: str | None = None,
        tags_key: str = "Tags",
        state: Callable[[dict], str | None] | None = None,
    ) -> None:
        for item in items:
            name = item.get(name_key) if name_key else None
            if self.ours(item.get(tags_key), name):
                self.add(
                    item[id_key],
                    f"{kind} {item[id_key]}" + (f" ({name})" if name else ""),
                    state(item) if state else None,
                )

    # -- sources --------------------------------------------------------------------------
    def tagging_api(self) -> None:
        rg = self.client("resourcegroupstaggingapi")
        filters = [
            {"Key": "Project", "Values": [self.project]},
            {"Key": "Environment", "Values": [self.environment]},
        ]
        for page in rg.get_paginator("get_resources").paginate(TagFilters=filters):
            for r in page["ResourceTagMappingList"]:
                self.found.setdefault(r["ResourceARN"], f"tagged {r['ResourceARN']}")

    def ec2(self) -> None:
        ec2 = self.client("ec2")
        self._each(ec2.describe_vpcs()["Vpcs"], "vpc", "VpcId")
        self._each(ec2.describe_subnets()["Subnets"], "subnet", "SubnetId")
        self._each(
            ec2.describe_security_groups()["SecurityGroups"],
            "security-group",
            "GroupId",
            name_key="GroupName",
        )
        self._each(ec2.describe_route_tables()["RouteTables"], "route-table", "RouteTableId")
        self._each(
            ec2.describe_internet_gateways()["InternetGateways"], "internet-gateway", "InternetGatewayId"
        )
        self._each(
            ec2.describe_nat_gateways()["NatGateways"],
            "nat-gateway",
            "NatGatewayId",
            state=lambda i: i.get("State"),
        )
        self._each(
            ec2.describe_vpc_endpoints()["VpcEndpoints"],
            "vpc-endpoint",
            "VpcEndpointId",
            state=lambda i: str(i.get("State", "")).lower(),
        )
        self._each(ec2.describe_addresses()["Addresses"], "elastic-ip", "AllocationId")
        self._each(
            ec2.describe_launch_templates()["LaunchTemplates"],
            "launch-template",
            "LaunchTemplateId",
            name_key="LaunchTemplateName",
        )
        self._each(ec2.describe_key_pairs()["KeyPairs"], "key-pair", "KeyPairId", name_key="KeyName")
        self._each(
            ec2.describe_network_interfaces()["NetworkInterfaces"],
            "network-interface",
            "NetworkInterfaceId",
            tags_key="TagSet",
        )
        self._each(ec2.describe_volumes()["Volumes"], "volume", "VolumeId", state=lambda i: i.get("State"))
        for res in ec2.describe_instances()["Reservations"]:
            self._each(res["Instances"], "instance", "InstanceId", state=lambda i: i["State"]["Name"])

    def iam(self) -> None:
        iam = self.client("iam")
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                name = role["RoleName"]
                tags = iam.list_role_tags(RoleName=name)["Tags"]
                if self.ours(tags, name):
                    self.add(role["Arn"], f"iam role {name}")
        for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
            for pol in page["Policies"]:
                tags = iam.list_policy_tags(PolicyArn=pol["Arn"])["Tags"]
                if self.ours(tags, pol["PolicyName"]):
                    self.add(pol["Arn"], f"iam policy {pol['PolicyName']}")
        for page in iam.get_paginator("list_instance_profiles").paginate():
            for prof in page["InstanceProfiles"]:
                if self.ours(prof.get("Tags"), prof["InstanceProfileName"]):
                    self.add(prof["Arn"], f"iam instance profile {prof['InstanceProfileName']}")

    def ecr(self) -> None:
        ecr = self.client("ecr")
        for repo in ecr.describe_repositories()["repositories"]:
            tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
            if self.ours(tags, repo["repositoryName"]):
                self.add(repo["repositoryArn"], f"ecr repository {repo['repositoryName']}")

    def batch(self) -> None:
        batch = self.client("batch")
        for ce in batch.describe_compute_environments()["computeEnvironments"]:
            if self.ours(ce.get("tags"), ce["computeEnvironmentName"]):
                self.add(
                    ce["computeEnvironmentArn"],
                    f"batch compute environment {ce['computeEnvironmentName']}",
                    ce.get("status"),
                )
        for q in batch.describe_job_queues()["jobQueues"]:
            if self.ours(q.get("tags"), q["jobQueueName"]):
                self.add(q["jobQueueArn"], f"batch job queue {q['jobQueueName']}", q.get("status"))
        for page in batch.get_paginator("describe_job_definitions").paginate():
            for jd in page["jobDefinitions"]:
                if self.ours(jd.get("tags"), jd["jobDefinitionName"]):
                    self.add(
                        jd["jobDefinitionArn"],
                        f"batch job definition {jd['jobDefinitionName']}:{jd['revision']}",
                        jd.get("status"),
                    )
        for sp in batch.list_scheduling_policies()["schedulingPolicies"]:
            arn = sp["arn"]
            name = arn.rsplit("/", 1)[-1]
            tags = batch.list_tags_for_resource(resourceArn=arn).get("tags")
            if self.ours(tags, name):
                self.add(arn, f"batch scheduling policy {name}")

    def s3(self) -> None:
        s3 = self.client("s3")
        for b in s3.list_buckets()["Buckets"]:
            name = b["Name"]
            try:
                tags = s3.get_bucket_tagging(Bucket=name)["TagSet"]
            except s3.exceptions.ClientError:
                tags = []
            if self.ours(tags, name):
                self.add(f"arn:aws:s3:::{name}", f"s3 bucket {name}")

    def logs(self) -> None:
        logs = self.client("logs")
        for page in logs.get_paginator("describe_log_groups").paginate():
            for g in page["logGroups"]:
                name = g["logGroupName"]
                tags = logs.list_tags_log_group(logGroupName=name).get("tags")
                if self.ours(tags, name.strip("/").replace("/", "-")):
                    self.add(g["arn"].removesuffix(":*"), f"log group {name}")

    def sns(self) -> None:
        sns = self.client("sns")
        for page in sns.get_paginator("list_topics").paginate():
            for t in page["Topics"]:
                arn = t["TopicArn"]
                tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
                if self.ours(tags, arn.rsplit(":", 1)[-1]):
                    self.add(arn, f"sns topic {arn.rsplit(':', 1)[-1]}")

    def cloudwatch(self) -> None:
        cw = self.client("cloudwatch")
        for page in cw.get_paginator("describe_alarms").paginate():
            for a in page["MetricAlarms"] + page.get("CompositeAlarms", []):
                tags = cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
                if self.ours(tags, a["AlarmName"]):
                    self.add(a["AlarmArn"], f"cloudwatch alarm {a['AlarmName']}")
        for d in cw.list_dashboards()["DashboardEntries"]:
            if self.ours(None, d["DashboardName"]):
                self.add(d["DashboardArn"], f"cloudwatch dashboard {d['DashboardName']}")

    def events(self) -> None:
        ev = self.client("events")
        for r in ev.list_rules()["Rules"]:
            tags = ev.list_tags_for_resource(ResourceARN=r["Arn"])["Tags"]
            if self.ours(tags, r["Name"]):
                self.add(r["Arn"], f"eventbridge rule {r['Name']}")

    def scheduler(self) -> None:
        sch = self.client("scheduler")
        for g in sch.list_schedule_groups()["ScheduleGroups"]:
            tags = sch.list_tags_for_resource(ResourceArn=g["Arn"])["Tags"] if g["Name"] != "default" else []
            if self.ours(tags, g["Name"]):
                self.add(g["Arn"], f"schedule group {g['Name']}")
        for s in sch.list_schedules()["Schedules"]:
            if self.ours(None, s["Name"]) or self.ours(None, s.get("GroupName")):
                self.add(s["Arn"], f"schedule {s.get('GroupName')}/{s['Name']}")

    def budgets(self) -> None:
        account = self.client("sts").get_caller_identity()["Account"]
        for b in self.client("budgets").describe_budgets(AccountId=account).get("Budgets", []):
            if self.ours(None, b["BudgetName"]):
                self.add(f"budget/{b['BudgetName']}", f"budget {b['BudgetName']}")

    def kms(self) -> None:
        kms = self.client("kms")
        for page in kms.get_paginator("list_keys").paginate():
            for k in page["Keys"]:
                meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
                if meta.get("KeyManager") == "AWS":
                    continue
                tags = kms.list_resource_tags(KeyId=k["KeyId"]).get("Tags")
                if self.ours(tags):
                    self.add(meta["Arn"], f"kms key {k['KeyId']}", meta.get("KeyState"))

    def ssm(self) -> None:
        ssm = self.client("ssm")
        for page in ssm.get_paginator("describe_parameters").paginate():
            for p in page["Parameters"]:
                name = p["Name"]
                if self.ours(None, name.strip("/").replace("/", "-")):
                    self.add(name, f"ssm parameter {name}")

    SOURCES = (
        "tagging_api",
        "ec2",
        "iam",
        "ecr",
        "batch",
        "s3",
        "logs",
        "sns",
        "cloudwatch",
        "events",
        "scheduler",
        "budgets",
        "kms",
        "ssm",
    )

    def live(self) -> list[str]:
        """Every live resource of the deployment, described, sorted."""
        for source in self.SOURCES:
            getattr(self, source)()
        out = []
        for key, what in self.found.items():
            if key in self.dead or any(key.endswith(("/" + d, ":" + d)) for d in self.dead):
                continue
            out.append(what)
        # A resource found by both sources appears twice (as its ARN and its id): keep the
        # explicit listing's description when both name the same id.
        ids = {k.rsplit("/", 1)[-1] for k, w in self.found.items() if not w.startswith("tagged ")}
        return sorted(w for w in out if not (w.startswith("tagged ") and w.rsplit("/", 1)[-1] in ids))


def project_resources(client: Callable[[str], Any], project: str, environment: str) -> list[str]:
    return Scan(client, project, environment).live()
