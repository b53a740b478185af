# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration checks for lmpspot's preflight.  Pure functions.

``config_problems`` checks every setting it is given; the network settings are checked in
``module_utils/config_network.py``, the weekly windows in ``module_utils/config_schedule.py``
(also the ``schedule_problems`` filter), and the checks that need AWS facts are the
``offerings`` filters (instance types, zones).

Each ``*_problems`` filter returns a list of human-readable problem strings (empty when
all is well) instead of raising on the first one, so that preflight can report every
problem of a configuration at once.  Every message starts with the setting it is about
and says how to fix it.  A filter raises ``AnsibleFilterError`` only when it is called
with input of the wrong shape (a programming error, not a configuration error).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.module_utils.config_common import (
    MAX_GPUS_PER_JOB,
    MISSING,
    as_bool,
    as_int,
    is_str_list,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.config_network import network_problems
from ansible_collections.lmpspot.aws.plugins.module_utils.config_schedule import (
    SCHEDULE_PREFIXES,
    window_problems,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import RESERVED_TAGS

MAX_TAGS_PER_RESOURCE = 50

# Resource names are "<project>-<environment>-<suffix>"; the tightest AWS limit among
# the resources lmpspot names is 64 (IAM role names, EventBridge Scheduler schedules).
# These limits keep 64 - (20 + 1 + 10 + 1) = 32 characters for the suffix.
PROJECT_MAX_LEN = 20
ENVIRONMENT_MAX_LEN = 10
_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")

_REGION = re.compile(
    r"^[a-z]{2,4}(-[a-z]{2,4})?-"
    r"(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9][0-9]?$"
)
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")

MIN_AZS = 2
# GPUs a job may ask for: the GPU counts EC2 GPU types come with.
GPUS_PER_JOB = (1, 2, 4, MAX_GPUS_PER_JOB)
# Days results stay in Intelligent-Tiering before the Deep Archive transition.
MIN_DAYS_IN_TIERING = 90
MIN_CHECKPOINT_INTERVAL_S = 60

_BUCKET_CHARS = re.compile(r"^[a-z0-9.-]+$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_PLACEHOLDER = "change-me"

_KMS_KEY = re.compile(
    r"^("
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32}"
    r"|alias/[A-Za-z0-9/_-]+"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)"
    r")$"
)
# Characters AWS accepts in tag keys and values (letters, digits, spaces, _ . : / = + - @).
_TAG_TEXT = re.compile(r"^[\w .:/=+\-@]*$", re.UNICODE)
_S3_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]+/$")

# Settings config_problems reads, with the inventory file that holds each.
SETTINGS_FILES = {
    "lmpspot_project": "project.yml",
    "lmpspot_environment": "project.yml",
    "lmpspot_owner": "project.yml",
    "lmpspot_extra_tags": "project.yml",
    "lmpspot_budget_monthly_usd": "project.yml",
    "lmpspot_region": "aws.yml",
    "lmpspot_availability_zones": "aws.yml",
    "lmpspot_local_aws": "aws.yml",
    "lmpspot_aws_endpoint_url": "aws.yml",
    "lmpspot_aws_environment": "aws.yml",
    "lmpspot_job_executor": "aws.yml",
    "lmpspot_aws_instances_reachable": "aws.yml",
    "lmpspot_aws_tags_launch_templates": "aws.yml",
    "lmpspot_image_registry": "image.yml",
    "network_vpc_cidr": "network.yml",
    "network_public_subnet_cidrs": "network.yml",
    "network_private_subnet_cidrs": "network.yml",
    "network_ssh_allowed_cidrs": "network.yml",
    "network_allow_ssh_from_anywhere": "network.yml",
    "network_ssh_min_prefix_ipv4": "network.yml",
    "network_ssh_min_prefix_ipv6": "network.yml",
    "network_interface_endpoints_enabled": "network.yml",
    "network_interface_endpoint_services": "network.yml",
    "network_nat_gateway_enabled": "network.yml",
    "compute_gpu_instance_types": "compute.yml",
    "compute_gpus_per_job": "compute.yml",
    "compute_max_vcpus": "compute.yml",
    "storage_bucket_name": "storage.yml",
    "storage_kms_key_id": "storage.yml",
    "storage_tls_only_policy": "storage.yml",
    "storage_checkpoint_noncurrent_days": "storage.yml",
    "storage_abort_multipart_days": "storage.yml",
    "storage_results_tiering_days": "storage.yml",
    "storage_results_deep_archive_days": "storage.yml",
    "lmpspot_checkpoint_interval": "runner.yml",
    "lmpspot_checkpoint_retention": "runner.yml",
    "lmpspot_checkpoint_prefix": "runner.yml",
    "lmpspot_results_prefix": "runner.yml",
    "lmpspot_inputs_prefix": "runner.yml",
    # schedules (bastion stop schedule, night window): schedule.yml
    **{f"{p}{k}": "schedule.yml" for p, keys in SCHEDULE_PREFIXES.items() for k in keys},
    # monitoring (roles/monitoring): monitoring.yml
    "monitoring_subscriptions": "monitoring.yml",
    "monitoring_checkpoint_age_factor": "monitoring.yml",
    "monitoring_interruption_threshold": "monitoring.yml",
    "monitoring_interruption_period_s": "monitoring.yml",
    "monitoring_log_retention_days": "monitoring.yml",
    "monitoring_sns_kms_key_id": "monitoring.yml",
    "monitoring_budget_compare_subscribers": "monitoring.yml",
    "monitoring_delete_kms_key": "monitoring.yml",
}

# CloudWatch Logs' retention choices (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
_SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _where(setting: str) -> str:
    return f"inventories/<env>/group_vars/all/{SETTINGS_FILES.get(setting, '*.yml')}"


# --------------------------------------------------------------------------- bucket names


def bucket_name_problems(name, setting="storage_bucket_name") -> list:
    """Problems of an S3 general purpose bucket name (AWS naming rules, plus no placeholder)."""
    if not isinstance(name, str):
        return [f"{setting}: must be a string, got {type(name).__name__}"]
    problems = []
    fix = "pick a globally unique name such as <lab>-lmpspot-results"
    if _PLACEHOLDER in name.lower():
        problems.append(
            f"{setting}: {name!r} is the placeholder; bucket names are global across all AWS "
            f"accounts: {fix} and set it in {_where('storage_bucket_name')}"
        )
        return problems
    if not 3 <= len(name) <= 63:
        problems.append(f"{setting}: {name!r} is {len(name)} characters; S3 allows 3 to 63")
    if not _BUCKET_CHARS.match(name):
        problems.append(f"{setting}: {name!r} may contain only lowercase letters, digits, dots and hyphens")
    if name and not (name[0].isalnum() and name[-1].isalnum()):
        problems.append(f"{setting}: {name!r} must begin and end with a lowercase letter or digit")
    if ".." in name:
        problems.append(f"{setting}: {name!r} must not contain two adjacent dots")
    if re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", name):
        problems.append(f"{setting}: {name!r} must not be formatted as an IP address")
    for prefix in _BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            problems.append(f"{setting}: {name!r} must not start with {prefix!r} (reserved by S3)")
    for suffix in _BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            problems.append(f"{setting}: {name!r} must not end with {suffix!r} (reserved by S3)")
    return problems


# --------------------------------------------------------------------------- sections


def _project(cfg, problems):
    for setting, max_len in (
        ("lmpspot_project", PROJECT_MAX_LEN),
        ("lmpspot_environment", ENVIRONMENT_MAX_LEN),
    ):
        value = cfg.get(setting, MISSING)
        if value is MISSING:
            continue
        if not isinstance(value, str) or not _LABEL.match(value) or len(value) > max_len:
            problems.append(
                f"{setting}: {value!r} must be a lowercase DNS label of 1 to {max_len} characters "
                "(letters, digits, inner hyphens; starting with a letter) so that derived names "
                "such as IAM roles (64 characters) and the bucket (63) fit; rename it"
            )
    owner = cfg.get("lmpspot_owner", MISSING)
    if owner is not MISSING and (
        not isinstance(owner, str) or len(owner) > 256 or not _TAG_TEXT.match(owner)
    ):
        problems.append(
            f"lmpspot_owner: {owner!r} must be a tag value: at most 256 letters, digits, spaces "
            "and _ . : / = + - @"
        )
    extra = cfg.get("lmpspot_extra_tags", MISSING)
    if extra is not MISSING:
        _extra_tags(extra, problems)
    budget = cfg.get("lmpspot_budget_monthly_usd", MISSING)
    if budget is not MISSING and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget < 0
    ):
        problems.append(
            f"lmpspot_budget_monthly_usd: {budget!r} must be a number of USD >= 0 (0 disables the budget)"
        )


def _extra_tags(extra, problems):
    if extra is None:
        return
    if not isinstance(extra, Mapping):
        problems.append(
            f"lmpspot_extra_tags: must be a mapping of tag key to value, got {type(extra).__name__}; "
            "write e.g. {CostCenter: '1234'}"
        )
        return
    reserved_lower = {t.lower(): t for t in RESERVED_TAGS}
    clash = sorted(str(k) for k in extra if str(k).lower() in reserved_lower)
    if clash:
        problems.append(
            f"lmpspot_extra_tags: may not set {', '.join(clash)}: lmpspot uses "
            f"{', '.join(RESERVED_TAGS)} to find its own resources; remove them from lmpspot_extra_tags"
        )
    for raw_key, value in extra.items():
        key = str(raw_key)
        if key.lower().startswith("aws:"):
            problems.append(
                f"lmpspot_extra_tags: key {key!r} uses the 'aws:' prefix, which AWS reserves; rename it"
            )
        elif not 1 <= len(key) <= 128 or not _TAG_TEXT.match(key):
            problems.append(
                f"lmpspot_extra_tags: key {key!r} must be 1 to 128 letters, digits, spaces "
                "and _ . : / = + - @"
            )
        if not isinstance(value, (str, int, float)):
            problems.append(
                f"lmpspot_extra_tags: value of {key!r} must be a string, got {type(value).__name__}"
            )
        elif len(str(value)) > 256 or not _TAG_TEXT.match(str(value)):
            problems.append(
                f"lmpspot_extra_tags: value of {key!r} must be at most 256 letters, digits, spaces "
                "and _ . : / = + - @"
            )
    # Project, Environment, ManagedBy, Owner and Name are set by lmpspot.
    room = MAX_TAGS_PER_RESOURCE - len(RESERVED_TAGS) - 2
    if len(extra) > room:
        problems.append(
            f"lmpspot_extra_tags: {len(extra)} tags; AWS allows {MAX_TAGS_PER_RESOURCE} per resource "
            f"and lmpspot sets 5, so keep at most {room}"
        )


def _region(cfg, problems):
    region = cfg.get("lmpspot_region", MISSING)
    region_ok = isinstance(region, str) and bool(_REGION.match(region))
    if region is not MISSING and not region_ok:
        problems.append(
            f"lmpspot_region: {region!r} is not an AWS region name; use e.g. us-east-2 or eu-west-1"
        )
    azs = cfg.get("lmpspot_availability_zones", MISSING)
    if azs is MISSING:
        return
    if not is_str_list(azs):
        problems.append(
            f"lmpspot_availability_zones: must be a list of zone names, got {azs!r}; "
            "write e.g. [us-east-2a, us-east-2b]"
        )
        return
    if len(azs) < MIN_AZS:
        problems.append(
            f"lmpspot_availability_zones: {len(azs)} zone(s) given; list at least {MIN_AZS} so Batch "
            "can find spot capacity and survive a zone outage (e.g. [us-east-2a, us-east-2b])"
        )
    dups = sorted({z for z in azs if azs.count(z) > 1})
    if dups:
        problems.append(
            f"lmpspot_availability_zones: {', '.join(dups)} listed more than once; list each zone once"
        )
    if region_ok:
        wrong = [z for z in azs if not re.fullmatch(re.escape(region) + r"[a-z]", z)]
        if wrong:
            problems.append(
                f"lmpspot_availability_zones: {', '.join(wrong)} not zone(s) of lmpspot_region "
                f"{region}; use names like {region}a, {region}b"
            )


def _compute(cfg, problems):
    types = cfg.get("compute_gpu_instance_types", MISSING)
    if types is not MISSING:
        if not is_str_list(types) or not types:
            problems.append(
                f"compute_gpu_instance_types: must be a non-empty list of instance types, got {types!r}; "
                "write e.g. [g5.xlarge, p4d.24xlarge]"
            )
        else:
            bad = [t for t in types if not _INSTANCE_TYPE.match(t)]
            if bad:
                problems.append(
                    f"compute_gpu_instance_types: {', '.join(map(repr, bad))} not instance type "
                    "name(s); write FAMILY.SIZE such as g5.xlarge"
                )
            dups = sorted({t for t in types if types.count(t) > 1})
            if dups:
                problems.append(f"compute_gpu_instance_types: {', '.join(dups)} listed more than once")
    gpus = cfg.get("compute_gpus_per_job", MISSING)
    if gpus is not MISSING:
        n = as_int(gpus)
        if n is None or n not in GPUS_PER_JOB:
            problems.append(
                f"compute_gpus_per_job: {gpus!r} must be {', '.join(map(str, GPUS_PER_JOB[:-1]))} or "
                f"{GPUS_PER_JOB[-1]} (the GPU counts of EC2 GPU types; none has more than {MAX_GPUS_PER_JOB})"
            )
    vcpus = cfg.get("compute_max_vcpus", MISSING)
    if vcpus is not MISSING:
        n = as_int(vcpus)
        if n is None or n < 1:
            problems.append(f"compute_max_vcpus: {vcpus!r} must be a positive integer (Batch's maxvCpus)")


def _storage(cfg, problems):
    name = cfg.get("storage_bucket_name", MISSING)
    if name is not MISSING:
        problems.extend(bucket_name_problems(name))
    kms = cfg.get("storage_kms_key_id", MISSING)
    if kms is not MISSING and kms not in ("", None) and (not isinstance(kms, str) or not _KMS_KEY.match(kms)):
        problems.append(
            f"storage_kms_key_id: {kms!r} is not a KMS key id, key ARN, alias/NAME or alias ARN; "
            "leave it empty for SSE-S3"
        )
    tls_only = as_bool(cfg.get("storage_tls_only_policy", True))
    local = as_bool(cfg.get("lmpspot_local_aws", False))
    if tls_only is None:
        problems.append(
            f"storage_tls_only_policy: must be true or false, got {cfg.get('storage_tls_only_policy')!r}"
        )
    elif not tls_only and local is False:
        problems.append(
            "storage_tls_only_policy: false is only allowed against the local AWS (whose policy "
            "evaluation is broken); a real account's results bucket must refuse non-TLS requests: "
            "set it to true"
        )
    days = {}
    for setting, minimum in (
        ("storage_checkpoint_noncurrent_days", 1),
        ("storage_abort_multipart_days", 1),
        ("storage_results_tiering_days", 0),
        ("storage_results_deep_archive_days", 0),
    ):
        value = cfg.get(setting, MISSING)
        if value is MISSING:
            continue
        n = as_int(value)
        if n is None or n < minimum:
            problems.append(f"{setting}: {value!r} must be an integer number of days >= {minimum}")
        else:
            days[setting] = n
    tier = days.get("storage_results_tiering_days")
    archive = days.get("storage_results_deep_archive_days")
    if tier is not None and archive and archive < tier + MIN_DAYS_IN_TIERING:
        problems.append(
            f"storage_results_deep_archive_days: {archive} must be at least "
            f"storage_results_tiering_days + {MIN_DAYS_IN_TIERING} ({tier + MIN_DAYS_IN_TIERING}): "
            f"S3 lifecycle transitions come in order and results stay {MIN_DAYS_IN_TIERING} days in "
            "Intelligent-Tiering before Deep Archive; raise it, or set 0 to disable the archive step"
        )


def _runner(cfg, problems):
    interval = cfg.get("lmpspot_checkpoint_interval", MISSING)
    if interval is not MISSING:
        n = as_int(interval)
        if n is None or n < MIN_CHECKPOINT_INTERVAL_S:
            problems.append(
                f"lmpspot_checkpoint_interval: {interval!r} must be an integer number of seconds "
                f">= {MIN_CHECKPOINT_INTERVAL_S} (e.g. 600)"
            )
    retention = cfg.get("lmpspot_checkpoint_retention", MISSING)
    if retention is not MISSING:
        n = as_int(retention)
        if n is None or n < 1:
            problems.append(
                f"lmpspot_checkpoint_retention: {retention!r} must be an integer >= 1 (complete "
                "checkpoints kept; e.g. 3)"
            )
    prefixes = {}
    for setting in ("lmpspot_checkpoint_prefix", "lmpspot_results_prefix", "lmpspot_inputs_prefix"):
        value = cfg.get(setting, MISSING)
        if value is MISSING:
            continue
        if (
            not isinstance(value, str)
            or not _S3_PREFIX.match(value)
            or value.startswith("/")
            or "//" in value
        ):
            problems.append(
                f"{setting}: {value!r} must be a relative S3 key prefix ending in '/', e.g. checkpoints/"
            )
        else:
            prefixes[setting] = value
    items = list(prefixes.items())
    for i, (s1, p1) in enumerate(items):
        for s2, p2 in items[i + 1 :]:
            if p1.startswith(p2) or p2.startswith(p1):
                problems.append(
                    f"{s1} and {s2}: {p1!r} and {p2!r} nest, so lifecycle rules for one would apply to "
                    "the other; give them distinct top-level prefixes"
                )


def _endpoint(cfg, problems):
    local = as_bool(cfg.get("lmpspot_local_aws", False))
    if local is None:
        problems.append(f"lmpspot_local_aws: must be true or false, got {cfg.get('lmpspot_local_aws')!r}")
        return
    url = cfg.get("lmpspot_aws_endpoint_url", "") or ""
    env = cfg.get("lmpspot_aws_environment", MISSING)
    if env is not MISSING and not isinstance(env, Mapping):
        problems.append(f"lmpspot_aws_environment: must be a mapping of environment variables, got {env!r}")
        env = MISSING
    (_local_endpoint if local else _real_endpoint)(url, env, problems)
    region = cfg.get("lmpspot_region")
    if env is not MISSING and isinstance(region, str):
        for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if key in env and env[key] != region:
                problems.append(
                    f"lmpspot_aws_environment.{key}: {env[key]!r} differs from lmpspot_region {region!r}; "
                    'set it to "{{ lmpspot_region }}"'
                )


def _local_endpoint(url, env, problems):
    """Against the local AWS: every endpoint is on loopback."""
    endpoints = [("lmpspot_aws_endpoint_url", url)]
    if env is not MISSING:
        endpoints.append(("lmpspot_aws_environment.AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL", "")))
    for setting, value in endpoints:
        if not _is_loopback_url(value):
            problems.append(
                f"{setting}: {value!r} must be an https://127.0.0.1:PORT URL while lmpspot_local_aws "
                "is true: the local AWS accepts dummy credentials and must never be reachable from "
                "the network (set lmpspot_local_aws_host to 127.0.0.1)"
            )


def _real_endpoint(url, env, problems):
    """Against a real account: the endpoint is AWS's or https, and no keys in the inventory."""
    if url and not str(url).startswith("https://"):
        problems.append(
            f"lmpspot_aws_endpoint_url: {url!r} must be empty (the real AWS endpoints) or an "
            "https:// URL while lmpspot_local_aws is false"
        )
    if env is not MISSING:
        keys = sorted(
            k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if k in env
        )
        if keys:
            problems.append(
                f"lmpspot_aws_environment: sets {', '.join(keys)}; never put AWS keys in the "
                "inventory: use AWS_PROFILE, SSO or an instance role and remove them"
            )


# What each local-mode setting must be against the local AWS (True) and against a real
# account (False), and why the other value cannot work there. Which values are allowed at
# all is the argument specs' business (choices); this is only how they go together.
_LOCAL_MODE = {
    "lmpspot_job_executor": {
        True: (
            "local",
            "the local AWS's Batch only records a job and marks it SUCCEEDED at once, so nothing would run",
        ),
        False: (
            "batch",
            "the local executor would run the job on this machine under podman while AWS Batch "
            "runs it too, both writing the same checkpoints",
        ),
    },
    "lmpspot_image_registry": {
        True: (
            "local",
            "the local AWS's ECR has no data plane, so the image could not be pushed or pulled",
        ),
        False: (
            "ecr",
            "the image would go to a registry on this machine's loopback that Batch's hosts cannot pull from",
        ),
    },
    "lmpspot_aws_instances_reachable": {
        True: (
            False,
            "the local AWS's instances are records, not machines: the plays would try to reach them over SSH",
        ),
    },
    "lmpspot_aws_tags_launch_templates": {
        True: (
            False,
            "the local AWS answers CreateTags on a launch template with InvalidID, so the bastion "
            "and host plays would fail",
        ),
    },
}


def _local_mode(cfg, problems):
    """The settings that differ in local mode agree with lmpspot_local_aws."""
    local = as_bool(cfg.get("lmpspot_local_aws", False))
    if local is None:
        return  # _endpoint reports it
    target = (
        "the local AWS (lmpspot_local_aws: true)" if local else "a real account (lmpspot_local_aws: false)"
    )
    for setting, by_target in _LOCAL_MODE.items():
        value = cfg.get(setting, MISSING)
        if value is MISSING or local not in by_target:
            continue
        want, why = by_target[local]
        # A value that is no bool, or not among the choices, is the argument spec's to refuse.
        other = (not want) if isinstance(want, bool) else by_target[not local][0]
        if (as_bool(value) if isinstance(want, bool) else value) == other:
            shown = str(want).lower() if isinstance(want, bool) else want
            given = str(value).lower() if isinstance(value, bool) else repr(value)
            problems.append(
                f"{setting}: {given} cannot work against {target}: {why}; set it to {shown} "
                f"in {_where(setting)}"
            )


def _is_loopback_url(value) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- filters


def config_problems(cfg) -> list:
    """Every problem of the configuration ``cfg`` (setting name -> value)."""
    if not isinstance(cfg, Mapping):
        raise AnsibleFilterError(
            f"config_problems expects a mapping of setting name to value, got {type(cfg).__name__}"
        )
    problems: list[str] = []
    for section in (
        _project,
        _region,
        network_problems,
        _compute,
        _storage,
        _runner,
        _endpoint,
        _local_mode,
        _monitoring,
    ):
        section(cfg, problems)
    problems.extend(schedule_problems(cfg))
    return problems


def _subscription_problem(i, sub) -> str | None:
    where = f"monitoring_subscriptions[{i}]"
    if not isinstance(sub, Mapping) or set(sub) - {"protocol", "endpoint"}:
        return f"{where}: {sub!r} must be a mapping {{protocol: email|https|sqs, endpoint: ...}}"
    proto, endpoint = sub.get("protocol"), sub.get("endpoint")
    checks = {
        "email": (_EMAIL, "an e-mail address"),
        "https": (re.compile(r"^https://[^\s/]+"), "an https:// URL"),
        "sqs": (_SQS_ARN, "an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)"),
    }
    if proto not in checks:
        return f"{where}: protocol {proto!r} must be email, https or sqs"
    pattern, what = checks[proto]
    if not isinstance(endpoint, str) or not pattern.match(endpoint):
        return f"{where}: endpoint {endpoint!r} must be {what} for protocol {proto}"
    return None


def _monitoring(cfg, problems):
    """The monitoring layer's settings, when present (monitoring.yml)."""
    subs = cfg.get("monitoring_subscriptions", MISSING)
    if subs is not MISSING:
        if not isinstance(subs, list):
            problems.append(f"monitoring_subscriptions: {subs!r} must be a list of {{protocol, endpoint}}")
        else:
            problems.extend(p for i, sub in enumerate(subs) if (p := _subscription_problem(i, sub)))
    factor = cfg.get("monitoring_checkpoint_age_factor", MISSING)
    if factor is not MISSING:
        try:
            ok = float(factor) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(
                f"monitoring_checkpoint_age_factor: {factor!r} must be a number >= 1 (the alarm fires "
                "when the newest checkpoint is older than this many checkpoint intervals; 2 is usual)"
            )
    threshold = cfg.get("monitoring_interruption_threshold", MISSING)
    if threshold is not MISSING and (as_int(threshold) is None or as_int(threshold) < 1):
        problems.append(f"monitoring_interruption_threshold: {threshold!r} must be a whole number >= 1")
    period = cfg.get("monitoring_interruption_period_s", MISSING)
    if period is not MISSING:
        n = as_int(period)
        if n is None or n < 60 or n > 86400 or n % 60:
            problems.append(
                f"monitoring_interruption_period_s: {period!r} must be a multiple of 60 from 60 to 86400 "
                "(CloudWatch alarm periods), e.g. 3600"
            )
    days = cfg.get("monitoring_log_retention_days", MISSING)
    if days is not MISSING and as_int(days) not in LOG_RETENTION_DAYS:
        problems.append(
            f"monitoring_log_retention_days: {days!r} is not a CloudWatch Logs retention; use one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    _monitoring_keys(cfg, problems)


def _monitoring_keys(cfg, problems):
    """The alert topic's KMS key, and the moto workarounds (only against the local AWS)."""
    key = cfg.get("monitoring_sns_kms_key_id", MISSING)
    if key is not MISSING and isinstance(key, str) and key.strip() == "alias/aws/sns":
        problems.append(
            "monitoring_sns_kms_key_id: alias/aws/sns cannot be used: CloudWatch alarms, EventBridge and "
            "Budgets cannot publish to a topic under the AWS-managed key; leave it empty (the role "
            "creates a key) or name a customer-managed key"
        )
    if as_bool(cfg.get("lmpspot_local_aws", False)) is False:
        for name in ("monitoring_budget_compare_subscribers", "monitoring_delete_kms_key"):
            value = cfg.get(name, MISSING)
            if value is not MISSING and as_bool(value) is not True:
                problems.append(
                    f"{name}: false is only for the local AWS (it works around a gap of moto); "
                    "set it to true for a real account"
                )


def schedule_problems(cfg) -> list:
    """Problems of the weekly window settings in ``cfg`` (setting name -> value)."""
    if not isinstance(cfg, Mapping):
        raise AnsibleFilterError(
            f"schedule_problems expects a mapping of setting name to value, got {type(cfg).__name__}"
        )
    return window_problems(cfg)


class FilterModule:
    def filters(self):
        return {
            "config_problems": config_problems,
            "bucket_name_problems": bucket_name_problems,
            "schedule_problems": schedule_problems,
        }
