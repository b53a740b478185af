# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only account audit behind ``lmpspot.aws.audit_account`` (docs/AUDIT.md).

Two layers, so each can be tested on its own:

* pure checks (``check_*``), one module per area: described AWS data in the shapes boto3
  returns -> findings (``audit_network``, ``audit_s3``, ``audit_ec2``, ``audit_iam``,
  ``audit_ecr``, ``audit_tags``, ``audit_batch``, ``audit_drift``, ``audit_resources``);
* the collector here (:class:`Audit`): boto3 clients -> that data -> the checks.  It only
  ever calls ``Describe*``/``List*``/``Get*`` APIs.

The finding shape and the read helpers are in ``audit_common``; waivers, the summary and
the Markdown report in ``audit_report``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils import audit_resources
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_batch import (
    check_checkpoint_age,
    check_runnable_jobs,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import (
    as_dt,
    finding,
    pages,
    read_or_none,
    tag_dict,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_drift import check_drift
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_ec2 import (
    check_instances_imds,
    check_launch_templates,
    check_volumes,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_ecr import check_ecr_repository
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_iam import (
    check_policy_documents,
    check_unused_roles,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_network import (
    check_network_drift,
    check_security_groups,
    check_ssh_only_from,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_s3 import check_bucket
from ansible_collections.lmpspot.aws.plugins.module_utils.audit_tags import check_tags

ALL_CHECKS = (
    "security_groups",
    "buckets",
    "imds",
    "ebs",
    "iam",
    "ecr",
    "tags",
    "batch",
    "drift",
)


class Scope:
    """What counts as lmpspot's: a name starting with ``<project>-<env>-``, or the project tags."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.tags = {str(k): str(v) for k, v in cfg["project_tags"].items()}
        self.prefix = cfg.get("name_prefix") or f"{self.tags['Project']}-{self.tags['Environment']}-"
        self.names = set(cfg.get("names", []))
        self.iam_path = cfg.get("iam_path", "")

    def ours(self, name: str | None = None, tags: Any = None) -> bool:
        t = tag_dict(tags)
        if name and (name.startswith(self.prefix) or name in self.names):
            return True
        if t.get("Name", "").startswith(self.prefix):
            return True
        return t.get("Project") == self.tags["Project"] and t.get("Environment") == self.tags["Environment"]


class Audit:
    """Gathers the account's state and runs the checks; ``run()`` -> findings and errors."""

    def __init__(
        self, client: Callable[[str], Any], cfg: Mapping[str, Any], now: datetime | None = None
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.now = now or datetime.now(timezone.utc)
        self.scope = Scope(cfg)
        self.findings: list = []
        self.errors: list[str] = []
        self.tagged: list[tuple[str, str, Any]] = []  # (kind, resource, tags) of our resources
        self.actual: dict[str, Any] = {}
        self._vpc_ids: set[str] | None = None
        self.compared: list[dict] = []  # the declared resources the drift check looked up

    # -- helpers
    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # a check that cannot read must say so, not pass silently
            msg = f"{what}: {type(exc).__name__}: {exc}"
            self.errors.append(msg)
            self.findings.append(
                finding(
                    "audit.incomplete",
                    "medium",
                    what,
                    f"could not check {what}: {exc}",
                    "Give the auditing principal the read-only actions in roles/audit/README.md",
                )
            )
            return None

    def project_vpc_ids(self) -> set[str]:
        if self._vpc_ids is None:
            vpcs = pages(self.client("ec2"), "describe_vpcs", "Vpcs")
            self._vpcs = [v for v in vpcs if self.scope.ours(None, v.get("Tags"))]
            self._vpc_ids = {v["VpcId"] for v in self._vpcs}
        return self._vpc_ids

    # -- checks
    def security_groups(self) -> None:
        ec2 = self.client("ec2")
        groups = pages(ec2, "describe_security_groups", "SecurityGroups")
        ours = self.project_vpc_ids()
        if not self.cfg.get("account_wide", True):
            groups = [g for g in groups if g.get("VpcId") in ours]
        self.findings += check_security_groups(
            groups, self.cfg.get("admin_ports", (22, 3389)), self.cfg.get("admin_min_prefix")
        )
        self.findings += check_ssh_only_from(
            [g for g in groups if g.get("VpcId") in ours], self.cfg.get("ssh_only_from") or {}
        )
        for g in groups:
            if g.get("VpcId") in ours and g.get("GroupName") != "default":
                self.tagged.append(("security group", g["GroupId"], g.get("Tags"), g.get("GroupName")))

    def buckets(self) -> None:
        s3 = self.client("s3")
        names = set(self.cfg.get("bucket_names", []))
        for b in s3.list_buckets().get("Buckets", []):
            name = b["Name"]
            self._guard(f"bucket {name}", lambda name=name: self._bucket(s3, name, names))

    def _bucket(self, s3, name: str, configured: set[str]) -> None:
        tagging = read_or_none(s3.get_bucket_tagging, "NoSuchTagSet", "NoSuchTagSetError", Bucket=name)
        tags = (tagging or {}).get("TagSet", [])
        project = name in configured or self.scope.ours(name, tags)
        if not project and not self.cfg.get("account_wide", True):
            return
        pab = read_or_none(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=name)
        policy = read_or_none(s3.get_bucket_policy, "NoSuchBucketPolicy", Bucket=name)
        acl = read_or_none(s3.get_bucket_acl, "AccessControlListNotSupported", Bucket=name)
        data = {
            "name": name,
            "public_access_block": (pab or {}).get("PublicAccessBlockConfiguration"),
            "policy": json.loads(policy["Policy"]) if policy else None,
            "acl_grants": (acl or {}).get("Grants", []),
        }
        if project:
            enc = read_or_none(
                s3.get_bucket_encryption,
                "ServerSideEncryptionConfigurationNotFoundError",
                Bucket=name,
            )
            data["encryption"] = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules")
            data["versioning"] = s3.get_bucket_versioning(Bucket=name).get("Status")
            self.tagged.append(("bucket", f"arn:aws:s3:::{name}", tags, name))
        self.findings += check_bucket(data, project)

    def imds(self) -> None:
        ec2 = self.client("ec2")
        reservations = pages(ec2, "describe_instances", "Reservations")
        instances = [i for r in reservations for i in r.get("Instances", [])]
        ours = self.project_vpc_ids()
        if not self.cfg.get("account_wide", True):
            instances = [i for i in instances if i.get("VpcId") in ours]
        self.findings += check_instances_imds(instances)
        for i in instances:
            if i.get("State", {}).get("Name") != "terminated" and (
                i.get("VpcId") in ours or self.scope.ours(None, i.get("Tags"))
            ):
                self.tagged.append(("instance", i["InstanceId"], i.get("Tags")))
        templates = pages(ec2, "describe_launch_templates", "LaunchTemplates")
        # DescribeTags: the local AWS leaves a template's tags out of DescribeLaunchTemplates.
        lt_tags: dict[str, list] = {}
        for t in pages(
            ec2, "describe_tags", "Tags", Filters=[{"Name": "resource-type", "Values": ["launch-template"]}]
        ):
            lt_tags.setdefault(t["ResourceId"], []).append(t)
        for t in templates:
            t["Tags"] = t.get("Tags") or lt_tags.get(t["LaunchTemplateId"], [])
        if not self.cfg.get("account_wide", True):
            templates = [t for t in templates if self.scope.ours(t["LaunchTemplateName"], t.get("Tags"))]
        batch_templates = set()
        for ce in pages(self.client("batch"), "describe_compute_environments", "computeEnvironments"):
            spec = (ce.get("computeResources") or {}).get("launchTemplate") or {}
            batch_templates |= {spec[k] for k in ("launchTemplateId", "launchTemplateName") if spec.get(k)}
        versions = []
        for t in templates:
            versions += ec2.describe_launch_template_versions(
                LaunchTemplateId=t["LaunchTemplateId"], Versions=["$Default", "$Latest"]
            ).get("LaunchTemplateVersions", [])
            if self.scope.ours(t["LaunchTemplateName"], t.get("Tags")):
                self.tagged.append(
                    ("launch template", t["LaunchTemplateId"], t["Tags"], t["LaunchTemplateName"])
                )
        self.findings += check_launch_templates(versions, batch_templates)

    def ebs(self) -> None:
        volumes = pages(self.client("ec2"), "describe_volumes", "Volumes")
        if not self.cfg.get("account_wide", True):
            volumes = [v for v in volumes if self.scope.ours(None, v.get("Tags"))]
        self.findings += check_volumes(volumes)

    def iam(self) -> None:
        iam = self.client("iam")
        docs: list[tuple[str, str, Any]] = []
        cache: dict[str, Any] = {}

        def managed(arn: str) -> Any:
            if arn not in cache:
                pol = iam.get_policy(PolicyArn=arn)["Policy"]
                ver = iam.get_policy_version(PolicyArn=arn, VersionId=pol["DefaultVersionId"])
                cache[arn] = ver["PolicyVersion"]["Document"]
            return cache[arn]

        for pol in pages(iam, "list_policies", "Policies", Scope="Local"):
            docs.append((pol["Arn"], f"managed policy {pol['PolicyName']}", managed(pol["Arn"])))
        unused_candidates = []
        for role in pages(iam, "list_roles", "Roles"):
            name = role["RoleName"]
            for pname in pages(iam, "list_role_policies", "PolicyNames", RoleName=name):
                doc = iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"]
                docs.append((role["Arn"], f"role {name} inline policy {pname}", doc))
            for att in pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
                if att["PolicyArn"].split(":")[4] == "aws":  # AWS managed; ours are listed above
                    docs.append(
                        (
                            role["Arn"],
                            f"role {name} (AWS managed {att['PolicyName']})",
                            managed(att["PolicyArn"]),
                        )
                    )
            if role.get("Path", "/").startswith("/aws-service-role/"):
                continue
            full = iam.get_role(RoleName=name)["Role"]
            in_path = bool(self.scope.iam_path) and role.get("Path") == self.scope.iam_path
            if in_path or self.scope.ours(name, full.get("Tags")):
                unused_candidates.append(full)
                self.tagged.append(("IAM role", full["Arn"], full.get("Tags"), name))
        for user in pages(iam, "list_users", "Users"):
            for pname in pages(iam, "list_user_policies", "PolicyNames", UserName=user["UserName"]):
                doc = iam.get_user_policy(UserName=user["UserName"], PolicyName=pname)["PolicyDocument"]
                docs.append((user["Arn"], f"user {user['UserName']} inline policy {pname}", doc))
        self.findings += check_policy_documents(docs)
        self.findings += check_unused_roles(
            unused_candidates, self.now, int(self.cfg.get("unused_role_days", 90))
        )

    def ecr(self) -> None:
        ecr = self.client("ecr")
        names = set(self.cfg.get("repository_names", []))
        for repo in pages(ecr, "describe_repositories", "repositories"):
            tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
            if not (repo["repositoryName"] in names or self.scope.ours(repo["repositoryName"], tags)):
                continue
            self.tagged.append(("ECR repository", repo["repositoryArn"], tags, repo["repositoryName"]))
            images = pages(ecr, "describe_images", "imageDetails", repositoryName=repo["repositoryName"])
            images.sort(key=lambda i: as_dt(i.get("imagePushedAt")) or self.now, reverse=True)
            scanned = []
            for img in images[: int(self.cfg.get("ecr_images_max", 10))]:
                res = read_or_none(
                    ecr.describe_image_scan_findings,
                    "ScanNotFoundException",
                    repositoryName=repo["repositoryName"],
                    imageId={"imageDigest": img["imageDigest"]},
                )
                counts = ((res or {}).get("imageScanFindings") or {}).get("findingSeverityCounts") or {}
                label = (img.get("imageTags") or [img["imageDigest"]])[0]
                scanned.append((label, counts))
            self.findings += check_ecr_repository(repo, scanned)

    def batch(self) -> None:
        batch = self.client("batch")
        ces = pages(batch, "describe_compute_environments", "computeEnvironments")
        queues = pages(batch, "describe_job_queues", "jobQueues")
        jds = pages(batch, "describe_job_definitions", "jobDefinitions", status="ACTIVE")
        ces = [c for c in ces if self.scope.ours(c["computeEnvironmentName"], c.get("tags"))]
        queues = [q for q in queues if self.scope.ours(q["jobQueueName"], q.get("tags"))]
        newest: dict[str, dict] = {}
        for jd in jds:
            if self.scope.ours(jd["jobDefinitionName"], jd.get("tags")):
                cur = newest.get(jd["jobDefinitionName"])
                if cur is None or jd["revision"] > cur["revision"]:
                    newest[jd["jobDefinitionName"]] = jd
        self.actual.update(compute_environments=ces, job_queues=queues, job_definitions=newest)
        self.tagged += [
            ("compute environment", c["computeEnvironmentArn"], c.get("tags"), c["computeEnvironmentName"])
            for c in ces
        ]
        self.tagged += [("job queue", q["jobQueueArn"], q.get("tags"), q["jobQueueName"]) for q in queues]
        self.tagged += [
            ("job definition", j["jobDefinitionArn"], j.get("tags"), j["jobDefinitionName"])
            for j in newest.values()
        ]
        jobs = []
        for q in queues:
            for status in ("RUNNABLE", "RUNNING"):
                ids = [
                    j["jobId"]
                    for j in pages(
                        batch, "list_jobs", "jobSummaryList", jobQueue=q["jobQueueName"], jobStatus=status
                    )
                ]
                for i in range(0, len(ids), 100):
                    jobs += batch.describe_jobs(jobs=ids[i : i + 100]).get("jobs", [])
        self.findings += check_runnable_jobs(jobs, self.now, int(self.cfg.get("runnable_max_age_s", 3600)))
        self.findings += check_checkpoint_age(
            jobs, self.newest_checkpoint, self.cfg.get("checkpoint", {}), self.now
        )

    def newest_checkpoint(self, bucket: str, prefix: str) -> datetime | None:
        """Time of the newest checkpoint manifest (uploaded last, so the checkpoint is whole)."""
        objs = pages(self.client("s3"), "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
        times = [as_dt(o["LastModified"]) for o in objs if o["Key"].endswith("/manifest.json")]
        return max(times, default=None)

    def drift(self) -> None:
        expected = self.cfg.get("expected") or {}
        vpc = expected.get("vpc")
        if vpc:
            self.project_vpc_ids()
            named = [v for v in self._vpcs if tag_dict(v.get("Tags")).get("Name") == vpc["name"]]
            self.actual["vpc"] = named[0] if named else None
        bucket = expected.get("bucket")
        if bucket:
            s3 = self.client("s3")
            exists = (
                read_or_none(s3.head_bucket, "404", "NoSuchBucket", "NotFound", Bucket=bucket["name"])
                is not None
            )
            rules = None
            if exists:
                lc = read_or_none(
                    s3.get_bucket_lifecycle_configuration,
                    "NoSuchLifecycleConfiguration",
                    Bucket=bucket["name"],
                )
                rules = (lc or {}).get("Rules", [])
            self.actual["lifecycle_rules"] = rules
        if expected.get("network"):
            self.actual["network"] = self.network_inventory()
        if "compute_environments" not in self.actual and any(
            expected.get(k) for k in ("compute_environments", "job_queues", "job_definitions")
        ):
            self.batch_inventory()
        self.findings += check_drift(expected, self.actual)
        if expected.get("network"):
            self.findings += check_network_drift(expected["network"], self.actual["network"])
        if expected.get("resources"):
            declared = audit_resources.flatten(expected["resources"])
            self.actual["resources"] = audit_resources.collect_resources(self.client, declared)
            self.findings += audit_resources.check_resource_drift(declared, self.actual["resources"])
            self.compared = [
                {**r, "present": self.actual["resources"].get((r["kind"], r["name"])) is not None}
                for r in declared
            ]

    def network_inventory(self) -> dict[str, list]:
        """The project VPCs' subnets, route tables, groups, gateways and endpoints."""
        ec2 = self.client("ec2")
        vpcs = sorted(self.project_vpc_ids())
        if not vpcs:
            return {}
        by_vpc = [{"Name": "vpc-id", "Values": vpcs}]
        return {
            "subnets": pages(ec2, "describe_subnets", "Subnets", Filters=by_vpc),
            "route_tables": pages(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc),
            "security_groups": pages(ec2, "describe_security_groups", "SecurityGroups", Filters=by_vpc),
            "internet_gateways": pages(
                ec2,
                "describe_internet_gateways",
                "InternetGateways",
                Filters=[{"Name": "attachment.vpc-id", "Values": vpcs}],
            ),
            "endpoints": pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc),
        }

    def batch_inventory(self) -> None:
        batch = self.client("batch")
        self.actual["compute_environments"] = pages(
            batch, "describe_compute_environments", "computeEnvironments"
        )
        self.actual["job_queues"] = pages(batch, "describe_job_queues", "jobQueues")
        newest: dict[str, dict] = {}
        for jd in pages(batch, "describe_job_definitions", "jobDefinitions", status="ACTIVE"):
            cur = newest.get(jd["jobDefinitionName"])
            if cur is None or jd["revision"] > cur["revision"]:
                newest[jd["jobDefinitionName"]] = jd
        self.actual["job_definitions"] = newest

    def tags(self) -> None:
        ec2 = self.client("ec2")
        ours = self.project_vpc_ids()
        self.tagged += [("VPC", v["VpcId"], v.get("Tags")) for v in self._vpcs]
        if ours:
            subnets = pages(
                ec2, "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": sorted(ours)}]
            )
            self.tagged += [("subnet", s["SubnetId"], s.get("Tags")) for s in subnets]
        seen, unique = set(), []
        for item in self.tagged:
            if item[1] not in seen:
                seen.add(item[1])
                unique.append(item)
        self.findings += check_tags(unique, self.scope.tags)

    def run(self, checks: Iterable[str] = ALL_CHECKS) -> dict[str, Any]:
        checks = list(checks)
        unknown = sorted(set(checks) - set(ALL_CHECKS))
        if unknown:
            raise ValueError(
                f"unknown audit checks {', '.join(unknown)}; choose from {', '.join(ALL_CHECKS)}"
            )
        # tags runs last: the other checks collect the project's resources it looks at.
        order = [c for c in ALL_CHECKS if c in checks and c != "tags"] + (
            ["tags"] if "tags" in checks else []
        )
        for name in order:
            self._guard(f"{name} check", getattr(self, name))
        return {"findings": self.findings, "errors": self.errors, "checks": order, "compared": self.compared}
