#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: audit_account
version_added: 0.1.0
short_description: Read-only security and hygiene audit of an lmpspot AWS account
description:
  - Reads the account (only Describe, List and Get calls) and returns findings, each with
    an id, a severity (info, low, medium, high, critical), the resource, a message and a fix.
  - "Checks: security groups open to 0.0.0.0/0 or ::/0; buckets without encryption, public
    access block, TLS-only policy or versioning (and public buckets anywhere); instances and
    launch templates allowing IMDSv1; unencrypted EBS volumes; IAM policies allowing * on *;
    unused project roles; ECR repositories without scan on push, with mutable tags, or with
    images whose scan found CRITICAL or HIGH vulnerabilities; project resources missing the
    project tags; Batch jobs RUNNABLE too long; running jobs whose newest checkpoint is older
    than twice the checkpoint interval; drift between O(expected) and the account."
  - Findings a waiver in O(waivers) matches are returned apart (RV(waived)) and not counted.
  - Never changes anything; C(changed) is always false. Runs the same in check mode.
  - A check that cannot read what it needs (for example AccessDenied) becomes an
    C(audit.incomplete) finding (medium) instead of passing silently.
options:
  project_tags:
    description:
      - The tags every lmpspot resource carries (lmpspot.aws.project_tags). Project and
        Environment (with the name prefix) decide what is the project's.
    type: dict
    required: true
  name_prefix:
    description: Names starting with this are the project's. Empty means V(<Project>-<Environment>-).
    type: str
    default: ""
  iam_path:
    description: IAM path of the project's roles (they are the project's even without tags).
    type: str
    default: ""
  bucket_names:
    description: Buckets that get the full bucket checks whatever their tags.
    type: list
    elements: str
    default: []
  repository_names:
    description: ECR repositories that are the project's whatever their tags.
    type: list
    elements: str
    default: []
  account_wide:
    description:
      - Run the security checks (security groups, public buckets, IMDS, EBS) on every resource
        of the region, not only the project's. IAM policies are always checked account-wide.
    type: bool
    default: true
  admin_ports:
    description: Ports whose exposure to the world is critical (others are high).
    type: list
    elements: int
    default: [22, 3389]
  admin_min_prefix:
    description:
      - Minimum prefix length per IP version (keys V(4) and V(6)) of a range that may reach an
        admin port; a wider one (not V(/0), which is critical) is a C(sg.wide_admin_port) finding.
    type: dict
    default: {"4": 16, "6": 48}
  ssh_only_from:
    description:
      - Project security group name -> the only group name it may take inbound traffic
        from, and then TCP 22 only (the simulation hosts' group from the bastion's).
    type: dict
    default: {}
  unused_role_days:
    description: A project role unused (or never used and created) this many days ago is reported.
    type: int
    default: 90
  runnable_max_age_s:
    description: A job RUNNABLE longer than this many seconds is reported.
    type: int
    default: 3600
  checkpoint:
    description:
      - Where running jobs checkpoint when their environment does not say (keys bucket,
        prefix, interval in seconds).
    type: dict
    default: {}
  ecr_images_max:
    description: How many of the newest images per repository have their scan findings read.
    type: int
    default: 10
  expected:
    description:
      - The configuration to compare with the account (drift); see docs/AUDIT.md for the keys
        (vpc, network, bucket, compute_environments, job_queues, job_definitions,
        resources).
      - V(resources) maps a play to the resources it makes (C([{kind, name}]), each layer
        role's C(<role>__resources)); each missing one is a C(drift.missing) finding.
    type: dict
    default: {}
  checks:
    description: Which checks to run.
    type: list
    elements: str
    default: [security_groups, buckets, imds, ebs, iam, ecr, tags, batch, drift]
    choices: [security_groups, buckets, imds, ebs, iam, ecr, tags, batch, drift]
  waivers:
    description:
      - Documented exceptions. Each is a dict with V(id) (a finding id, glob allowed),
        V(resource) (glob, default V(*)) and V(reason) (required). Matching findings are
        listed as waived and not counted.
    type: list
    elements: dict
    default: []
  severity_overrides:
    description: Finding id to severity, replacing the built-in severity of that check.
    type: dict
    default: {}
  fail_severity:
    description: RV(summary.failed) is true when a counted finding is at or above this severity.
    type: str
    default: high
    choices: [info, low, medium, high, critical]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Audit the account
  lmpspot.aws.audit_account:
    project_tags: "{{ lmpspot_project | lmpspot.aws.project_tags(lmpspot_environment, lmpspot_owner) }}"
    bucket_names: ["{{ storage_bucket_name }}"]
    fail_severity: high
    waivers:
      - id: s3.tls_only_policy
        resource: "arn:aws:s3:::{{ storage_bucket_name }}"
        reason: local AWS cannot evaluate the TLS-only policy (storage_tls_only_policy false)
  register: audit

- name: Fail on findings at or above the threshold
  ansible.builtin.assert:
    that: not audit.summary.failed
"""

RETURN = r"""
findings:
  description: Counted findings, most severe first.
  returned: always
  type: list
  elements: dict
  sample:
    - id: sg.open_admin_port
      severity: critical
      resource: sg-0123
      message: "security group sg-0123 (bastion, vpc-1) allows tcp 22 (port 22) from 0.0.0.0/0"
      fix: Allow SSH only from known ranges
waived:
  description: Findings a waiver matched, with RV(waived[].waiver_reason); not counted.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts by severity, counted and waived totals, the threshold and whether it was reached.
  returned: always
  type: dict
  sample:
    by_severity: {info: 0, low: 0, medium: 1, high: 0, critical: 0}
    counted: 1
    waived: 1
    fail_severity: high
    at_or_above_threshold: 0
    failed: false
errors:
  description: What could not be read (each also an audit.incomplete finding).
  returned: always
  type: list
  elements: str
checks:
  description: The checks that ran, in order.
  returned: always
  type: list
  elements: str
account:
  description: The audited account id.
  returned: always
  type: str
region:
  description: The audited region.
  returned: always
  type: str
generated_at:
  description: When the audit ran (UTC, ISO 8601).
  returned: always
  type: str
compared:
  description: The declared resources the drift check looked up (C(expected.resources)), each with
    C(kind), C(name), C(play) and C(present).
  returned: always
  type: list
  elements: dict
markdown:
  description: The report for people (Markdown).
  returned: always
  type: str
"""

from datetime import datetime, timezone

try:  # noqa: SIM105 - the amazon.aws idiom: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.lmpspot.aws.plugins.module_utils import audit, audit_common, audit_report


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "project_tags": {"type": "dict", "required": True},
            "name_prefix": {"type": "str", "default": ""},
            "iam_path": {"type": "str", "default": ""},
            "bucket_names": {"type": "list", "elements": "str", "default": []},
            "repository_names": {"type": "list", "elements": "str", "default": []},
            "account_wide": {"type": "bool", "default": True},
            "admin_ports": {"type": "list", "elements": "int", "default": [22, 3389]},
            "admin_min_prefix": {"type": "dict", "default": {"4": 16, "6": 48}},
            "ssh_only_from": {"type": "dict", "default": {}},
            "unused_role_days": {"type": "int", "default": 90},
            "runnable_max_age_s": {"type": "int", "default": 3600},
            "checkpoint": {"type": "dict", "default": {}},
            "ecr_images_max": {"type": "int", "default": 10},
            "expected": {"type": "dict", "default": {}},
            "checks": {
                "type": "list",
                "elements": "str",
                "default": list(audit.ALL_CHECKS),
                "choices": list(audit.ALL_CHECKS),
            },
            "waivers": {"type": "list", "elements": "dict", "default": []},
            "severity_overrides": {"type": "dict", "default": {}},
            "fail_severity": {"type": "str", "default": "high", "choices": list(audit_common.SEVERITIES)},
        },
        supports_check_mode=True,
    )
    p = module.params
    for key in ("Project", "Environment"):
        if not p["project_tags"].get(key):
            module.fail_json(msg=f"project_tags needs a {key} tag (lmpspot.aws.project_tags makes it)")
    clients = {}

    def client(service):
        if service not in clients:
            clients[service] = module.client(service)
        return clients[service]

    now = datetime.now(timezone.utc)
    try:
        account = client("sts").get_caller_identity()["Account"]
        result = audit.Audit(client, p, now=now).run(p["checks"])
        findings = audit_report.apply_severity_overrides(result["findings"], p["severity_overrides"])
        counted, waived = audit_report.apply_waivers(findings, p["waivers"])
    except ValueError as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg="Failed to identify the audited account")
    report = {
        "project": p["project_tags"]["Project"],
        "environment": p["project_tags"]["Environment"],
        "account": account,
        "region": module.region,
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "checks": result["checks"],
        "findings": audit_report.sort_findings(counted),
        "waived": audit_report.sort_findings(waived),
        "errors": result["errors"],
        "compared": result.get("compared", []),
        "summary": audit_report.summarize(counted, waived, p["fail_severity"]),
    }
    module.exit_json(changed=False, markdown=audit_report.render_markdown(report), **report)


if __name__ == "__main__":
    main()
