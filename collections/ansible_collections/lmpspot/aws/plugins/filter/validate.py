# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration checks for lmpspot's preflight.  Pure functions.

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
from ansible_collections.lmpspot.aws.plugins.module_utils import ssh_cidrs

# Tag keys lmpspot relies on to find its own resources (kept in step with naming.RESERVED_TAGS).
RESERVED_TAGS = ("Project", "Environment", "ManagedBy")
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

VPC_MIN_PREFIX, VPC_MAX_PREFIX = 16, 24  # lmpspot policy (AWS allows /16../28)
SUBNET_MIN_PREFIX, SUBNET_MAX_PREFIX = 16, 28  # AWS limits
# The Docker bridge on Batch's ECS-optimized instances uses 172.17.0.0/16: a VPC there
# makes the instances unable to reach their own subnet.
DOCKER_BRIDGE = ipaddress.ip_network("172.17.0.0/16")
MIN_AZS = 2
MAX_GPUS_PER_JOB = 8  # the largest GPU count of any EC2 type
MIN_CHECKPOINT_INTERVAL_S = 60

# Interface endpoint services the network role knows how to create.
INTERFACE_ENDPOINT_SERVICES = frozenset(
    {
        "ecr.api",
        "ecr.dkr",
        "logs",
        "ecs",
        "ecs-agent",
        "ecs-telemetry",
        "sts",
        "ssm",
        "ssmmessages",
        "ec2messages",
        "monitoring",
        "batch",
        "kms",
        "secretsmanager",
    }
)
GATEWAY_ENDPOINT_SERVICES = frozenset({"s3", "dynamodb"})
# Without a NAT gateway, Batch instances in private subnets need all of these to register
# with ECS, pull images from ECR and ship logs.
BATCH_REQUIRED_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "ecs", "ecs-agent", "ecs-telemetry")

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

# The settings of a weekly window (bastion_instance_schedule_*, night_window_*); the bastion
# calls its opening and closing times start_time and stop_time.
_SCHEDULE_KEYS = ("enabled", "timezone", "open_time", "close_time", "weekdays")
_SCHEDULE_PREFIXES = {
    "bastion_instance_schedule_": ("enabled", "timezone", "start_time", "stop_time", "weekdays"),
    "night_window_": _SCHEDULE_KEYS,
}
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

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
    **{f"{p}{k}": "schedule.yml" for p, keys in _SCHEDULE_PREFIXES.items() for k in keys},
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

_MISSING = object()


# --------------------------------------------------------------------------- helpers


def _as_int(value):
    """``value`` as an int, or None.  Accepts ints and integer strings (``-e k=v``), not bools."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


def _as_bool(value):
    """``value`` as a bool, or None.  Accepts what Ansible's ``bool`` type accepts."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "on", "1", "y", "t"):
            return True
        if low in ("false", "no", "off", "0", "n", "f", ""):
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def _is_str_list(value) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _cidr(value, setting, problems, *, version=4):
    """Parse one CIDR; on failure append a problem and return None."""
    if not isinstance(value, str) or "/" not in value:
        problems.append(
            f"{setting}: {value!r} is not a CIDR block; write it as ADDRESS/PREFIX "
            f"(e.g. {'10.42.0.0/16' if version == 4 else '203.0.113.0/24'})"
        )
        return None
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        problems.append(f"{setting}: {value!r} is not a valid CIDR block; fix its address or prefix")
        return None
    if version == 4 and net.version != 4:
        problems.append(f"{setting}: {value!r} is IPv6; lmpspot's VPC and subnets are IPv4")
        return None
    if str(net) != value.strip():
        host = value.split("/")[0].strip()
        problems.append(
            f"{setting}: {value!r} has host bits set; write the network address {net}"
            + (f" (or {host}/{net.max_prefixlen} for that one address)" if version != 4 else "")
        )
        return None
    return net


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
        value = cfg.get(setting, _MISSING)
        if value is _MISSING:
            continue
        if not isinstance(value, str) or not _LABEL.match(value) or len(value) > max_len:
            problems.append(
                f"{setting}: {value!r} must be a lowercase DNS label of 1 to {max_len} characters "
                "(letters, digits, inner hyphens; starting with a letter) so that derived names "
                "such as IAM roles (64 characters) and the bucket (63) fit; rename it"
            )
    owner = cfg.get("lmpspot_owner", _MISSING)
    if owner is not _MISSING and (
        not isinstance(owner, str) or len(owner) > 256 or not _TAG_TEXT.match(owner)
    ):
        problems.append(
            f"lmpspot_owner: {owner!r} must be a tag value: at most 256 letters, digits, spaces "
            "and _ . : / = + - @"
        )
    extra = cfg.get("lmpspot_extra_tags", _MISSING)
    if extra is not _MISSING:
        _extra_tags(extra, problems)
    budget = cfg.get("lmpspot_budget_monthly_usd", _MISSING)
    if budget is not _MISSING and (
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
    region = cfg.get("lmpspot_region", _MISSING)
    region_ok = isinstance(region, str) and bool(_REGION.match(region))
    if region is not _MISSING and not region_ok:
        problems.append(
            f"lmpspot_region: {region!r} is not an AWS region name; use e.g. us-east-2 or eu-west-1"
        )
    azs = cfg.get("lmpspot_availability_zones", _MISSING)
    if azs is _MISSING:
        return
    if not _is_str_list(azs):
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


def _network(cfg, problems):
    vpc = None
    vpc_value = cfg.get("network_vpc_cidr", _MISSING)
    if vpc_value is not _MISSING:
        vpc = _cidr(vpc_value, "network_vpc_cidr", problems)
    if vpc is not None:
        if not VPC_MIN_PREFIX <= vpc.prefixlen <= VPC_MAX_PREFIX:
            problems.append(
                f"network_vpc_cidr: {vpc} has prefix /{vpc.prefixlen}; use a prefix between "
                f"/{VPC_MIN_PREFIX} and /{VPC_MAX_PREFIX} (e.g. 10.42.0.0/16)"
            )
            vpc = None
        elif (
            vpc.is_loopback
            or vpc.is_link_local
            or vpc.is_multicast
            or vpc.is_reserved
            or vpc.is_unspecified
            or vpc.overlaps(ipaddress.ip_network("0.0.0.0/8"))
        ):
            problems.append(
                f"network_vpc_cidr: {vpc} is a special-purpose range AWS does not allow for VPCs; "
                "use a private range such as 10.42.0.0/16"
            )
            vpc = None
        elif vpc.overlaps(DOCKER_BRIDGE):
            problems.append(
                f"network_vpc_cidr: {vpc} overlaps 172.17.0.0/16, the Docker bridge on Batch "
                "instances (containers could not reach the VPC); use e.g. 10.42.0.0/16"
            )

    azs = cfg.get("lmpspot_availability_zones")
    az_count = len(azs) if _is_str_list(azs) else None
    public = cfg.get("network_public_subnet_cidrs", _MISSING)
    private = cfg.get("network_private_subnet_cidrs", _MISSING)
    subnets = []  # (setting, network)
    lists_ok = True
    for setting, value in (
        ("network_public_subnet_cidrs", public),
        ("network_private_subnet_cidrs", private),
    ):
        if value is _MISSING or value is None:
            continue
        if not _is_str_list(value):
            problems.append(f"{setting}: must be a list of CIDR strings (or [] to plan them), got {value!r}")
            lists_ok = False
            continue
        for item in value:
            net = _cidr(item, setting, problems)
            if net is None:
                continue
            if not SUBNET_MIN_PREFIX <= net.prefixlen <= SUBNET_MAX_PREFIX:
                problems.append(
                    f"{setting}: {net} has prefix /{net.prefixlen}; AWS subnets must be /{SUBNET_MIN_PREFIX} "
                    f"to /{SUBNET_MAX_PREFIX}"
                )
            if vpc is not None and not net.subnet_of(vpc):
                problems.append(
                    f"{setting}: {net} is not inside network_vpc_cidr {vpc}; pick a block inside it"
                )
            subnets.append((setting, net))

    explicit = lists_ok and any(
        isinstance(v, (list, tuple)) and len(v) for v in (public, private) if v is not _MISSING
    )
    if explicit and az_count is not None:
        for setting, value in (
            ("network_public_subnet_cidrs", public),
            ("network_private_subnet_cidrs", private),
        ):
            n = len(value) if isinstance(value, (list, tuple)) else 0
            if n != az_count:
                problems.append(
                    f"{setting}: {n} subnet(s) for {az_count} availability zone(s); give one per zone "
                    "in lmpspot_availability_zones, or leave both subnet lists empty to have them planned"
                )
    for i, (s1, n1) in enumerate(subnets):
        for s2, n2 in subnets[i + 1 :]:
            if n1.overlaps(n2):
                where = s1 if s1 == s2 else f"{s1} and {s2}"
                problems.append(f"{where}: {n1} and {n2} overlap; subnets must not share addresses")

    if not explicit and vpc is not None and az_count:
        # The subnets will be planned: the VPC must hold them (same rule as plan_subnets).
        private_blocks = 2 ** max(0, 20 - vpc.prefixlen)
        if vpc.prefixlen >= 20 or private_blocks < az_count + 1:
            problems.append(
                f"network_vpc_cidr: {vpc} is too small to plan one public /24 and one private /20 per "
                f"zone for {az_count} zones; use a /{max(16, 20 - az_count.bit_length())} or larger VPC, "
                "or list network_public_subnet_cidrs and network_private_subnet_cidrs yourself"
            )

    _ssh(cfg, problems)
    _endpoints(cfg, problems)


def _ssh(cfg, problems):
    cidrs = cfg.get("network_ssh_allowed_cidrs", _MISSING)
    if cidrs is _MISSING:
        return
    anywhere_ok = _as_bool(cfg.get("network_allow_ssh_from_anywhere", False))
    if anywhere_ok is None:
        problems.append(
            "network_allow_ssh_from_anywhere: must be true or false, got "
            f"{cfg.get('network_allow_ssh_from_anywhere')!r}"
        )
        anywhere_ok = False
    minimum = []
    for setting in ("network_ssh_min_prefix_ipv4", "network_ssh_min_prefix_ipv6"):
        value = cfg.get(setting, ssh_cidrs.DEFAULT_MIN_PREFIX[4 if setting.endswith("4") else 6])
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        minimum.append(value)
    problems.extend(ssh_cidrs.problems(cidrs, anywhere_ok, *minimum))


def _endpoints(cfg, problems):
    enabled = _as_bool(cfg.get("network_interface_endpoints_enabled", True))
    nat = _as_bool(cfg.get("network_nat_gateway_enabled", False))
    for setting, value in (
        ("network_interface_endpoints_enabled", enabled),
        ("network_nat_gateway_enabled", nat),
    ):
        if value is None:
            problems.append(f"{setting}: must be true or false, got {cfg.get(setting)!r}")
    services = cfg.get("network_interface_endpoint_services", _MISSING)
    if services is _MISSING:
        services = None
    elif not _is_str_list(services):
        problems.append(
            f"network_interface_endpoint_services: must be a list of service names, got {services!r}"
        )
        services = None
    if services is not None:
        allowed = ", ".join(sorted(INTERFACE_ENDPOINT_SERVICES))
        for svc in services:
            if svc in GATEWAY_ENDPOINT_SERVICES:
                problems.append(
                    f"network_interface_endpoint_services: {svc!r} is served by a free gateway "
                    "endpoint, not an interface endpoint; remove it from the list"
                )
            elif svc not in INTERFACE_ENDPOINT_SERVICES:
                problems.append(
                    f"network_interface_endpoint_services: {svc!r} is not a supported service; "
                    f"use names from: {allowed}"
                )
        dups = sorted({s for s in services if services.count(s) > 1})
        if dups:
            problems.append(f"network_interface_endpoint_services: {', '.join(dups)} listed more than once")
    if enabled is True and services is not None and not services:
        problems.append(
            "network_interface_endpoint_services: is empty while network_interface_endpoints_enabled "
            "is true; list the services or set network_interface_endpoints_enabled: false"
        )
    if nat is False and enabled is not None:
        if not enabled:
            problems.append(
                "network_interface_endpoints_enabled: false with network_nat_gateway_enabled: false "
                "leaves Batch instances in private subnets without a way to ECR, ECS and CloudWatch "
                "Logs; enable one of them"
            )
        elif services is not None:
            missing = [s for s in BATCH_REQUIRED_ENDPOINTS if s not in services]
            if missing:
                problems.append(
                    f"network_interface_endpoint_services: lacks {', '.join(missing)}, which Batch "
                    "instances need without a NAT gateway; add them "
                    "(or set network_nat_gateway_enabled: true)"
                )


def _compute(cfg, problems):
    types = cfg.get("compute_gpu_instance_types", _MISSING)
    if types is not _MISSING:
        if not _is_str_list(types) or not types:
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
    gpus = cfg.get("compute_gpus_per_job", _MISSING)
    if gpus is not _MISSING:
        n = _as_int(gpus)
        if n is None or not 1 <= n <= MAX_GPUS_PER_JOB:
            problems.append(
                f"compute_gpus_per_job: {gpus!r} must be an integer from 1 to {MAX_GPUS_PER_JOB} "
                "(no EC2 type has more GPUs)"
            )
    vcpus = cfg.get("compute_max_vcpus", _MISSING)
    if vcpus is not _MISSING:
        n = _as_int(vcpus)
        if n is None or n < 1:
            problems.append(f"compute_max_vcpus: {vcpus!r} must be a positive integer (Batch's maxvCpus)")


def _storage(cfg, problems):
    name = cfg.get("storage_bucket_name", _MISSING)
    if name is not _MISSING:
        problems.extend(bucket_name_problems(name))
    kms = cfg.get("storage_kms_key_id", _MISSING)
    if (
        kms is not _MISSING
        and kms not in ("", None)
        and (not isinstance(kms, str) or not _KMS_KEY.match(kms))
    ):
        problems.append(
            f"storage_kms_key_id: {kms!r} is not a KMS key id, key ARN, alias/NAME or alias ARN; "
            "leave it empty for SSE-S3"
        )
    tls_only = _as_bool(cfg.get("storage_tls_only_policy", True))
    local = _as_bool(cfg.get("lmpspot_local_aws", False))
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
        value = cfg.get(setting, _MISSING)
        if value is _MISSING:
            continue
        n = _as_int(value)
        if n is None or n < minimum:
            problems.append(f"{setting}: {value!r} must be an integer number of days >= {minimum}")
        else:
            days[setting] = n
    tier = days.get("storage_results_tiering_days")
    archive = days.get("storage_results_deep_archive_days")
    if tier is not None and archive and archive <= tier:
        problems.append(
            f"storage_results_deep_archive_days: {archive} must be greater than "
            f"storage_results_tiering_days ({tier}): S3 lifecycle transitions must come in order; "
            "set it above the tiering day, or 0 to disable the archive step"
        )


def _runner(cfg, problems):
    interval = cfg.get("lmpspot_checkpoint_interval", _MISSING)
    if interval is not _MISSING:
        n = _as_int(interval)
        if n is None or n < MIN_CHECKPOINT_INTERVAL_S:
            problems.append(
                f"lmpspot_checkpoint_interval: {interval!r} must be an integer number of seconds "
                f">= {MIN_CHECKPOINT_INTERVAL_S} (e.g. 600)"
            )
    retention = cfg.get("lmpspot_checkpoint_retention", _MISSING)
    if retention is not _MISSING:
        n = _as_int(retention)
        if n is None or n < 1:
            problems.append(
                f"lmpspot_checkpoint_retention: {retention!r} must be an integer >= 1 (complete "
                "checkpoints kept; e.g. 3)"
            )
    prefixes = {}
    for setting in ("lmpspot_checkpoint_prefix", "lmpspot_results_prefix", "lmpspot_inputs_prefix"):
        value = cfg.get(setting, _MISSING)
        if value is _MISSING:
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
    local = _as_bool(cfg.get("lmpspot_local_aws", False))
    if local is None:
        problems.append(f"lmpspot_local_aws: must be true or false, got {cfg.get('lmpspot_local_aws')!r}")
        return
    url = cfg.get("lmpspot_aws_endpoint_url", "") or ""
    env = cfg.get("lmpspot_aws_environment", _MISSING)
    if env is not _MISSING and not isinstance(env, Mapping):
        problems.append(f"lmpspot_aws_environment: must be a mapping of environment variables, got {env!r}")
        env = _MISSING
    env_url = env.get("AWS_ENDPOINT_URL", "") if env is not _MISSING else ""
    if local:
        for setting, value in (
            ("lmpspot_aws_endpoint_url", url),
            ("lmpspot_aws_environment.AWS_ENDPOINT_URL", env_url),
        ):
            if setting.startswith("lmpspot_aws_environment") and env is _MISSING:
                continue
            if not _is_loopback_url(value):
                problems.append(
                    f"{setting}: {value!r} must be an https://127.0.0.1:PORT URL while lmpspot_local_aws "
                    "is true: the local AWS accepts dummy credentials and must never be reachable from "
                    "the network (set lmpspot_local_aws_host to 127.0.0.1)"
                )
    else:
        if url and not str(url).startswith("https://"):
            problems.append(
                f"lmpspot_aws_endpoint_url: {url!r} must be empty (the real AWS endpoints) or an "
                "https:// URL while lmpspot_local_aws is false"
            )
        if env is not _MISSING:
            keys = sorted(
                k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if k in env
            )
            if keys:
                problems.append(
                    f"lmpspot_aws_environment: sets {', '.join(keys)}; never put AWS keys in the "
                    "inventory: use AWS_PROFILE, SSO or an instance role and remove them"
                )
    region = cfg.get("lmpspot_region")
    if env is not _MISSING and isinstance(region, str):
        for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if key in env and env[key] != region:
                problems.append(
                    f"lmpspot_aws_environment.{key}: {env[key]!r} differs from lmpspot_region {region!r}; "
                    'set it to "{{ lmpspot_region }}"'
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
    for section in (_project, _region, _network, _compute, _storage, _runner, _endpoint, _monitoring):
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


def _monitoring(cfg, problems):  # noqa: PLR0912 (one check per setting, in order)
    """The monitoring layer's settings, when present (monitoring.yml)."""
    subs = cfg.get("monitoring_subscriptions", _MISSING)
    if subs is not _MISSING:
        if not isinstance(subs, list):
            problems.append(f"monitoring_subscriptions: {subs!r} must be a list of {{protocol, endpoint}}")
        else:
            problems.extend(p for i, sub in enumerate(subs) if (p := _subscription_problem(i, sub)))
    factor = cfg.get("monitoring_checkpoint_age_factor", _MISSING)
    if factor is not _MISSING:
        try:
            ok = float(factor) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(
                f"monitoring_checkpoint_age_factor: {factor!r} must be a number >= 1 (the alarm fires "
                "when the newest checkpoint is older than this many checkpoint intervals; 2 is usual)"
            )
    threshold = cfg.get("monitoring_interruption_threshold", _MISSING)
    if threshold is not _MISSING and (_as_int(threshold) is None or _as_int(threshold) < 1):
        problems.append(f"monitoring_interruption_threshold: {threshold!r} must be a whole number >= 1")
    period = cfg.get("monitoring_interruption_period_s", _MISSING)
    if period is not _MISSING:
        n = _as_int(period)
        if n is None or n < 60 or n > 86400 or n % 60:
            problems.append(
                f"monitoring_interruption_period_s: {period!r} must be a multiple of 60 from 60 to 86400 "
                "(CloudWatch alarm periods), e.g. 3600"
            )
    days = cfg.get("monitoring_log_retention_days", _MISSING)
    if days is not _MISSING and _as_int(days) not in LOG_RETENTION_DAYS:
        problems.append(
            f"monitoring_log_retention_days: {days!r} is not a CloudWatch Logs retention; use one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    key = cfg.get("monitoring_sns_kms_key_id", _MISSING)
    if key is not _MISSING and isinstance(key, str) and key.strip() == "alias/aws/sns":
        problems.append(
            "monitoring_sns_kms_key_id: alias/aws/sns cannot be used: CloudWatch alarms, EventBridge and "
            "Budgets cannot publish to a topic under the AWS-managed key; leave it empty (the role "
            "creates a key) or name a customer-managed key"
        )
    if _as_bool(cfg.get("lmpspot_local_aws", False)) is False:
        for name in ("monitoring_budget_compare_subscribers", "monitoring_delete_kms_key"):
            value = cfg.get(name, _MISSING)
            if value is not _MISSING and _as_bool(value) is not True:
                problems.append(
                    f"{name}: false is only for the local AWS (it works around a gap of moto); "
                    "set it to true for a real account"
                )


def instance_type_problems(info, requested, gpus_per_job, max_vcpus=None) -> list:
    """Problems of ``requested`` GPU types given ``info`` from ``ec2_instance_type_info``."""
    if not isinstance(info, Mapping) or "instance_types" not in info:
        raise AnsibleFilterError(
            "instance_type_problems expects the result of lmpspot.aws.ec2_instance_type_info "
            "(a mapping with 'instance_types' and 'missing')"
        )
    if not _is_str_list(requested):
        raise AnsibleFilterError(f"requested must be a list of instance type names, got {requested!r}")
    facts = {t["instance_type"]: t for t in info.get("instance_types") or []}
    problems = []
    missing = [t for t in requested if t not in facts]
    if missing:
        problems.append(
            f"compute_gpu_instance_types: {', '.join(missing)} not offered in this region "
            "(DescribeInstanceTypes does not know them); fix the spelling or remove them"
        )
    usable = []  # (type, gpu count, vcpus)
    for name in requested:
        fact = facts.get(name)
        if fact is None:
            continue
        gpus = fact.get("gpus") or []
        nvidia = sum(
            int(g.get("count") or 0) for g in gpus if str(g.get("manufacturer", "")).upper() == "NVIDIA"
        )
        if not gpus:
            problems.append(
                f"compute_gpu_instance_types: {name} has no GPU; use an NVIDIA GPU type such as "
                "g5.xlarge, g6.xlarge or p4d.24xlarge"
            )
            continue
        if not nvidia:
            makers = ", ".join(sorted({str(g.get("manufacturer")) for g in gpus}))
            problems.append(
                f"compute_gpu_instance_types: {name} has {makers} GPUs; LAMMPS's GPU image needs "
                "NVIDIA (CUDA): use a type such as g5.xlarge or p4d.24xlarge"
            )
            continue
        classes = fact.get("supported_usage_classes")
        if classes is not None and "spot" not in classes:
            problems.append(f"compute_gpu_instance_types: {name} cannot run as spot; remove it")
            continue
        usable.append((name, nvidia, _as_int(fact.get("vcpus"))))
    n = _as_int(gpus_per_job)
    if usable and n is not None and 1 <= n <= MAX_GPUS_PER_JOB:
        fitting = [u for u in usable if u[1] >= n]
        if not fitting:
            most = max(usable, key=lambda u: u[1])
            problems.append(
                f"compute_gpus_per_job: {n} GPUs per job but no type in compute_gpu_instance_types has "
                f"that many (most: {most[1]} on {most[0]}); lower compute_gpus_per_job or add a type "
                "with enough GPUs (e.g. p4d.24xlarge, 8 GPUs)"
            )
        cap = _as_int(max_vcpus)
        candidates = [u[2] for u in (fitting or usable) if u[2] is not None]
        if cap is not None and cap >= 1 and candidates and cap < min(candidates):
            problems.append(
                f"compute_max_vcpus: {cap} is below the {min(candidates)} vCPUs of the smallest usable "
                "instance type, so Batch could never start one; raise compute_max_vcpus"
            )
    return problems


def availability_zone_problems(azs, available) -> list:
    """Problems of ``azs`` given the zones DescribeAvailabilityZones lists for the region."""
    if not _is_str_list(azs):
        return []  # config_problems reports the shape
    if not isinstance(available, (list, tuple)):
        raise AnsibleFilterError("available must be the availability_zones list of amazon.aws.aws_az_info")
    states = {z.get("zone_name"): z.get("state") for z in available if isinstance(z, Mapping)}
    problems = []
    unknown = [z for z in azs if z not in states]
    if unknown:
        problems.append(
            f"lmpspot_availability_zones: {', '.join(unknown)} not found in the region "
            f"(it has {', '.join(sorted(k for k in states if k)) or 'none'}); use existing zones"
        )
    down = [z for z in azs if z in states and states[z] != "available"]
    if down:
        problems.append(f"lmpspot_availability_zones: {', '.join(down)} not available now; pick other zones")
    return problems


# --------------------------------------------------------------------------- schedules


def _timezone_ok(name) -> bool:
    try:
        from zoneinfo import ZoneInfo  # noqa: PLC0415 (Python 3.9+; only needed here)

        ZoneInfo(name)
    except (ImportError, ValueError, KeyError, OSError):
        return False
    return True


def _window(prefix, cfg, problems):  # noqa: PLR0912 (one check per setting, in order)
    names = dict(zip(_SCHEDULE_KEYS, _SCHEDULE_PREFIXES[prefix], strict=True))
    keys = {k: cfg.get(f"{prefix}{names[k]}", _MISSING) for k in _SCHEDULE_KEYS}
    if all(v is _MISSING for v in keys.values()):
        return
    enabled = keys["enabled"]
    if enabled is not _MISSING and _as_bool(enabled) is None:
        problems.append(f"{prefix}enabled: must be true or false, got {enabled!r}")
    tz = keys["timezone"]
    if tz is not _MISSING and (not isinstance(tz, str) or not tz or not _timezone_ok(tz)):
        problems.append(
            f"{prefix}timezone: {tz!r} is not an IANA time zone; write e.g. UTC, Europe/Berlin or "
            "America/New_York"
        )
    times = {}
    for key in ("open_time", "close_time"):
        value = keys[key]
        if value is _MISSING:
            continue
        if not isinstance(value, str) or not _HHMM.match(value):
            problems.append(
                f'{prefix}{names[key]}: {value!r} must be a 24-hour "HH:MM" string, e.g. "19:00" (quote it)'
            )
        else:
            times[key] = value
    if len(times) == 2 and times["open_time"] == times["close_time"]:
        problems.append(
            f"{prefix}{names['open_time']} and {prefix}{names['close_time']} are both "
            f"{times['open_time']!r}: the window would open and close at once; give them different times"
        )
    days = keys["weekdays"]
    if days is not _MISSING:
        if not _is_str_list(days) or not days:
            problems.append(
                f"{prefix}weekdays: {days!r} must be a non-empty list of days, e.g. [MON, TUE, WED, THU, FRI]"
            )
        else:
            bad = [d for d in days if d.upper() not in WEEKDAYS]
            if bad:
                problems.append(
                    f"{prefix}weekdays: {', '.join(map(repr, bad))} is not a day; use {', '.join(WEEKDAYS)}"
                )
            elif len({d.upper() for d in days}) != len(days):
                problems.append(f"{prefix}weekdays: {days!r} lists a day twice; list each day once")


def schedule_problems(cfg) -> list:
    """Problems of the weekly window settings in ``cfg`` (setting name -> value)."""
    if not isinstance(cfg, Mapping):
        raise AnsibleFilterError(
            f"schedule_problems expects a mapping of setting name to value, got {type(cfg).__name__}"
        )
    problems: list[str] = []
    for prefix in _SCHEDULE_PREFIXES:
        _window(prefix, cfg, problems)
    return problems


class FilterModule:
    def filters(self):
        return {
            "config_problems": config_problems,
            "bucket_name_problems": bucket_name_problems,
            "instance_type_problems": instance_type_problems,
            "availability_zone_problems": availability_zone_problems,
            "schedule_problems": schedule_problems,
        }
