# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared logic of the lmpspot.aws.batch_* modules.

Everything above the "AWS calls" line is pure: it turns module parameters into
AWS Batch API shapes, normalizes API answers so that equal content compares equal,
and plans updates. The unit tests exercise it without any AWS.
"""

from __future__ import annotations

import copy
import time

from ansible.module_utils.common.dict_transformations import (
    camel_dict_to_snake_dict,
    snake_dict_to_camel_dict,
)
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import tag_changes

SERVICE_LINKED_ROLE_MARKER = ":role/aws-service-role/batch.amazonaws.com/"

# Allocation strategies that allow "infrastructure updates" (AWS Batch user guide,
# "Updating compute environments"); BEST_FIT does not.
INFRA_UPDATE_STRATEGIES = frozenset(
    {"BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"}
)
DEFAULT_ALLOCATION_STRATEGY = {
    "SPOT": "SPOT_PRICE_CAPACITY_OPTIMIZED",
    "EC2": "BEST_FIT_PROGRESSIVE",
}
# Compute-resource fields UpdateComputeEnvironment changes for every environment.
CR_SCALING_FIELDS = frozenset({"minvCpus", "maxvCpus", "desiredvCpus"})
# Fields only an infrastructure update can change (otherwise: replacement).
CR_INFRA_FIELDS = frozenset(
    {
        "allocationStrategy",
        "bidPercentage",
        "ec2Configuration",
        "ec2KeyPair",
        "instanceRole",
        "instanceTypes",
        "launchTemplate",
        "placementGroup",
        "securityGroupIds",
        "subnets",
        "tags",
        "type",
    }
)
# Fargate environments update these in place whatever the strategy.
CR_FARGATE_UPDATABLE = frozenset({"securityGroupIds", "subnets"})
CR_SET_FIELDS = ("instanceTypes", "subnets", "securityGroupIds")

# Container keys AWS fills in on its own; ignored unless the caller sets them.
AWS_FILLED_CONTAINER_KEYS = (
    "fargatePlatformConfiguration",
    "networkConfiguration",
    "runtimePlatform",
    "ephemeralStorage",
)
JOB_DEFINITION_CONTENT_KEYS = (
    "type",
    "parameters",
    "containerProperties",
    "retryStrategy",
    "timeout",
    "propagateTags",
    "platformCapabilities",
)
EVALUATE_ON_EXIT_MATCHERS = {
    "on_status_reason": "onStatusReason",
    "on_reason": "onReason",
    "on_exit_code": "onExitCode",
}
MAX_EVALUATE_ON_EXIT_RULES = 5
MIN_ATTEMPT_DURATION_S = 60
MAX_QUEUE_COMPUTE_ENVIRONMENTS = 3


class BatchInputError(ValueError):
    """A parameter combination AWS Batch would reject; raised before any API call."""


class BatchWaitError(RuntimeError):
    """A resource did not reach the wanted status in time, or became INVALID."""


# --------------------------------------------------------------------------- generic


def strip_empty(value):
    """Drop None, empty lists and empty dicts from dict values, recursively.

    AWS answers with ``[]``/``{}`` for what a request left out; both mean "nothing".
    ``False`` and ``0`` are kept: they are values.
    """
    if isinstance(value, dict):
        out = {}
        for key, raw in value.items():
            item = strip_empty(raw)
            if item is None or item in ([], {}):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [strip_empty(item) for item in value]
    return value


def str_map(mapping, what):
    """A str->str map (env vars, tags, parameters); non-scalar values are refused."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise BatchInputError(f"{what} must be a mapping, got {type(mapping).__name__}")
    out = {}
    for key, value in mapping.items():
        if isinstance(value, (dict, list)) or value is None:
            raise BatchInputError(f"{what}.{key} must be a string, number or boolean")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out[str(key)] = text
    return out


VCPU_KEYS = {"minv_cpus": "min_vcpus", "maxv_cpus": "max_vcpus", "desiredv_cpus": "desired_vcpus"}


def to_snake(api_dict, ignore_list=()):
    """camelCase API dict -> snake_case facts, with the vCpus keys spelled sanely."""
    snake = camel_dict_to_snake_dict(api_dict, ignore_list=list(ignore_list))

    def fix(obj):
        if isinstance(obj, dict):
            out = {}
            for raw_key, val in obj.items():
                key = VCPU_KEYS.get(raw_key, raw_key)
                out[key] = val if key in ignore_list else fix(val)
            return out
        if isinstance(obj, list):
            return [fix(item) for item in obj]
        return obj

    return fix(snake)


# --------------------------------------------------------------------------- job definitions


def resource_requirements(vcpus=None, memory=None, gpus=None):
    """GPU/VCPU/MEMORY resourceRequirements, values as the strings AWS stores."""
    reqs = []
    if vcpus is not None:
        vcpus = float(vcpus)
        if vcpus <= 0:
            raise BatchInputError("vcpus must be greater than 0")
        reqs.append({"type": "VCPU", "value": _num_str(vcpus)})
    if memory is not None:
        if int(memory) < 4:
            raise BatchInputError("memory (MiB) must be at least 4")
        reqs.append({"type": "MEMORY", "value": str(int(memory))})
    if gpus is not None:
        if int(gpus) < 0:
            raise BatchInputError("gpus must not be negative")
        if int(gpus) > 0:
            reqs.append({"type": "GPU", "value": str(int(gpus))})
    return reqs


def _num_str(value):
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def retry_strategy_request(retry):
    """Module retry_strategy -> API retryStrategy (validated), or None."""
    if not retry:
        return None
    out = {}
    attempts = retry.get("attempts")
    if attempts is not None:
        if not 1 <= int(attempts) <= 10:
            raise BatchInputError(f"retry_strategy.attempts must be 1-10, got {attempts}")
        out["attempts"] = int(attempts)
    rules = retry.get("evaluate_on_exit") or []
    if len(rules) > MAX_EVALUATE_ON_EXIT_RULES:
        raise BatchInputError(
            f"retry_strategy.evaluate_on_exit takes at most {MAX_EVALUATE_ON_EXIT_RULES}"
            f" rules, got {len(rules)}"
        )
    api_rules = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise BatchInputError(f"retry_strategy.evaluate_on_exit[{index}] must be a mapping")
        action = str(rule.get("action") or "").upper()
        if action not in ("RETRY", "EXIT"):
            raise BatchInputError(f"retry_strategy.evaluate_on_exit[{index}].action must be RETRY or EXIT")
        api_rule = {"action": action}
        for key, api_key in EVALUATE_ON_EXIT_MATCHERS.items():
            value = rule.get(key)
            if value is None:
                continue
            value = str(value)
            star = value.find("*")
            if star not in (-1, len(value) - 1):
                raise BatchInputError(
                    f"retry_strategy.evaluate_on_exit[{index}].{key}: a '*' may only end"
                    f" the pattern, got {value!r}"
                )
            api_rule[api_key] = value
        if len(api_rule) == 1:
            raise BatchInputError(
                f"retry_strategy.evaluate_on_exit[{index}] needs one of"
                f" {', '.join(EVALUATE_ON_EXIT_MATCHERS)}"
            )
        api_rules.append(api_rule)
    if api_rules:
        out["evaluateOnExit"] = api_rules
    return out or None


def container_properties_request(params):
    """Module parameters -> API containerProperties."""
    if not params.get("image"):
        raise BatchInputError("image is required for a container job definition")
    props = {"image": params["image"]}
    if params.get("command") is not None:
        props["command"] = [str(c) for c in params["command"]]
    props["resourceRequirements"] = resource_requirements(
        params.get("vcpus"), params.get("memory"), params.get("gpus")
    )
    env = str_map(params.get("environment"), "environment")
    props["environment"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    for opt, key in (
        ("job_role_arn", "jobRoleArn"),
        ("execution_role_arn", "executionRoleArn"),
        ("user", "user"),
        ("instance_type", "instanceType"),
        ("privileged", "privileged"),
        ("readonly_root_filesystem", "readonlyRootFilesystem"),
    ):
        if params.get(opt) is not None:
            props[key] = params[opt]
    for opt in ("linux_parameters", "mount_points", "volumes", "ulimits"):
        if params.get(opt):
            value = strip_empty(params[opt])
            props.update(snake_dict_to_camel_dict({opt: value}))
    log = params.get("log_configuration")
    if log:
        api_log = {"logDriver": log["log_driver"]}
        if log.get("options"):
            # Driver option names (awslogs-group ...) are passed through untouched.
            api_log["options"] = str_map(log["options"], "log_configuration.options")
        if log.get("secret_options"):
            api_log["secretOptions"] = [
                {"name": s["name"], "valueFrom": s["value_from"]} for s in log["secret_options"]
            ]
        props["logConfiguration"] = api_log
    if params.get("secrets"):
        props["secrets"] = [{"name": s["name"], "valueFrom": s["value_from"]} for s in params["secrets"]]
    return props


def job_definition_request(params):
    """Module parameters -> RegisterJobDefinition kwargs (tags excluded)."""
    timeout = params.get("attempt_duration_seconds")
    if timeout is not None and int(timeout) < MIN_ATTEMPT_DURATION_S:
        raise BatchInputError(
            f"attempt_duration_seconds must be at least {MIN_ATTEMPT_DURATION_S}, got {timeout}"
        )
    request = {
        "jobDefinitionName": params["name"],
        "type": params.get("type") or "container",
        "containerProperties": container_properties_request(params),
        "parameters": str_map(params.get("parameters"), "parameters"),
        "propagateTags": bool(params.get("propagate_tags")),
        "platformCapabilities": list(params.get("platform_capabilities") or ["EC2"]),
    }
    retry = retry_strategy_request(params.get("retry_strategy"))
    if retry:
        request["retryStrategy"] = retry
    if timeout is not None:
        request["timeout"] = {"attemptDurationSeconds": int(timeout)}
    return request


def normalize_job_definition(job_def):
    """Comparable content of a job definition, from a request or a describe answer.

    Key order, environment/secret order, resourceRequirements order, the case of
    evaluateOnExit actions, empty lists/maps AWS fills in, and the defaults AWS
    applies (platformCapabilities EC2, propagateTags false) all compare equal.
    The order of evaluateOnExit rules is kept: AWS applies the first that matches.
    """
    if not isinstance(job_def, dict):
        raise BatchInputError("a job definition must be a mapping")
    jd = copy.deepcopy({k: job_def.get(k) for k in JOB_DEFINITION_CONTENT_KEYS})
    jd["type"] = jd.get("type") or "container"
    jd["propagateTags"] = bool(jd.get("propagateTags"))
    jd["platformCapabilities"] = sorted(jd.get("platformCapabilities") or ["EC2"])
    jd["parameters"] = dict(sorted((jd.get("parameters") or {}).items()))
    container = jd.get("containerProperties")
    if container:
        env = [e for e in container.get("environment") or [] if e.get("value") not in ("", None)]
        container["environment"] = sorted(env, key=lambda e: e["name"])
        container["secrets"] = sorted(container.get("secrets") or [], key=lambda s: s["name"])
        container["resourceRequirements"] = sorted(
            (
                {"type": r["type"], "value": _req_value(r)}
                for r in container.get("resourceRequirements") or []
            ),
            key=lambda r: r["type"],
        )
        container["command"] = [str(c) for c in container.get("command") or []]
    retry = jd.get("retryStrategy")
    if retry:
        for rule in retry.get("evaluateOnExit") or []:
            rule["action"] = str(rule.get("action", "")).upper()
    return strip_empty(jd)


def _req_value(req):
    if req["type"] == "VCPU":
        return _num_str(req["value"])
    return str(int(float(req["value"])))


def job_definition_differs(desired_request, current):
    """True when ``current`` (describe answer or None) lacks the requested content."""
    if current is None:
        return True
    desired = normalize_job_definition(desired_request)
    have = normalize_job_definition(current)
    have_container = have.get("containerProperties") or {}
    want_container = desired.get("containerProperties") or {}
    for key in AWS_FILLED_CONTAINER_KEYS:
        if key not in want_container:
            have_container.pop(key, None)
    return desired != have


# --------------------------------------------------------------------------- compute environments


def compute_resources_request(cr):
    """Module compute_resources -> API computeResources (validated)."""
    if not cr:
        raise BatchInputError("compute_resources is required for a MANAGED compute environment")
    cr_type = cr["type"]
    fargate = cr_type.startswith("FARGATE")
    out = {"type": cr_type, "maxvCpus": int(cr["max_vcpus"])}
    if not fargate:
        out.update(_ec2_capacity(cr, cr_type, out["maxvCpus"]))
    elif out["maxvCpus"] < 0:
        raise BatchInputError("max_vcpus must not be negative")
    if cr.get("desired_vcpus") is not None:
        out["desiredvCpus"] = _desired_vcpus(cr["desired_vcpus"], out.get("minvCpus", 0), out["maxvCpus"])
    if not cr.get("subnets"):
        raise BatchInputError("compute_resources.subnets is required")
    out["subnets"] = list(cr["subnets"])
    if cr.get("security_group_ids"):
        out["securityGroupIds"] = list(cr["security_group_ids"])
    lt = cr.get("launch_template")
    if lt:
        out["launchTemplate"] = _launch_template_request(lt, fargate)
    if cr.get("ec2_configuration"):
        out["ec2Configuration"] = [strip_empty(snake_dict_to_camel_dict(c)) for c in cr["ec2_configuration"]]
    if cr.get("bid_percentage") is not None:
        out["bidPercentage"] = _bid_percentage(cr["bid_percentage"], cr_type)
    if cr.get("tags") is not None:
        out["tags"] = str_map(cr["tags"], "compute_resources.tags")
    for opt, key in (("ec2_key_pair", "ec2KeyPair"), ("placement_group", "placementGroup")):
        if cr.get(opt):
            out[key] = cr[opt]
    return out


def _ec2_capacity(cr, cr_type, max_vcpus):
    """The EC2/SPOT-only fields: vCPU floor, allocation strategy, instance types and role."""
    out = {"minvCpus": int(cr.get("min_vcpus") or 0)}
    strategy = cr.get("allocation_strategy") or DEFAULT_ALLOCATION_STRATEGY[cr_type]
    if strategy.startswith("SPOT_") and cr_type != "SPOT":
        raise BatchInputError(f"allocation_strategy {strategy} needs compute_resources.type SPOT")
    out["allocationStrategy"] = strategy
    if not cr.get("instance_types"):
        raise BatchInputError("compute_resources.instance_types is required for EC2 and SPOT")
    out["instanceTypes"] = list(cr["instance_types"])
    if not cr.get("instance_role"):
        raise BatchInputError("compute_resources.instance_role is required for EC2 and SPOT")
    out["instanceRole"] = cr["instance_role"]
    if out["minvCpus"] < 0 or max_vcpus < out["minvCpus"]:
        raise BatchInputError("need 0 <= min_vcpus <= max_vcpus")
    return out


def _desired_vcpus(value, min_vcpus, max_vcpus):
    desired = int(value)
    if not min_vcpus <= desired <= max_vcpus:
        raise BatchInputError("need min_vcpus <= desired_vcpus <= max_vcpus")
    return desired


def _launch_template_request(lt, fargate):
    """Module launch_template -> API launchTemplate: exactly one of id or name, and a version."""
    if fargate:
        raise BatchInputError("launch_template does not apply to Fargate")
    if bool(lt.get("launch_template_id")) == bool(lt.get("launch_template_name")):
        raise BatchInputError("launch_template needs exactly one of launch_template_id, launch_template_name")
    api_lt = {"version": str(lt.get("version") or "$Default")}
    if lt.get("launch_template_id"):
        api_lt["launchTemplateId"] = lt["launch_template_id"]
    else:
        api_lt["launchTemplateName"] = lt["launch_template_name"]
    return api_lt


def _bid_percentage(value, cr_type):
    if cr_type != "SPOT":
        raise BatchInputError("bid_percentage applies only to SPOT compute resources")
    if not 0 <= int(value) <= 100:
        raise BatchInputError("bid_percentage must be 0-100")
    return int(value)


def _cr_value(key, value, desired=None):
    """One computeResources field in comparable form."""
    if value is None:
        return None
    if key in CR_SET_FIELDS:
        return sorted(value)
    if key == "instanceRole":
        # A profile may be named by name or ARN; AWS keeps what it was given.
        return value.rsplit("/", 1)[-1]
    if key == "launchTemplate":
        value = dict(value)
        value["version"] = str(value.get("version") or "$Default")
        if desired is not None:
            value = {k: v for k, v in value.items() if k in desired}
        return value
    if key == "ec2Configuration":
        return sorted((strip_empty(dict(c)) for c in value), key=lambda c: c.get("imageType", ""))
    return value


def compute_resources_changes(desired_cr, current_cr):
    """Sorted names of computeResources fields whose managed value differs.

    Only fields present in ``desired_cr`` are managed: AWS fills in others
    (desiredvCpus moves with the load, ec2Configuration defaults to ECS_AL2 ...).
    """
    current_cr = dict(current_cr or {})
    current_cr.setdefault("allocationStrategy", "BEST_FIT")
    current_cr.setdefault("minvCpus", 0)
    changed = []
    for key, want in desired_cr.items():
        have = current_cr.get(key)
        want_norm = _cr_value(key, want)
        have_norm = _cr_value(key, have, desired=want_norm if key == "launchTemplate" else None)
        if want_norm != have_norm:
            changed.append(key)
    return sorted(changed)


def is_service_linked(role_arn):
    return role_arn is None or SERVICE_LINKED_ROLE_MARKER in role_arn


def plan_compute_environment(desired, current):
    """Plan how to move ``current`` (describe answer) to ``desired`` (create kwargs).

    Returns ``{"create": bool, "update": {UpdateComputeEnvironment kwargs minus the
    name}, "replace": [reasons]}``. An empty update and no replace means in sync.
    """
    if current is None:
        return {"create": True, "update": {}, "replace": []}
    replace = []
    update = {}
    if current.get("type") != desired["type"]:
        replace.append(f"type {current.get('type')} -> {desired['type']}")
    want_role = desired.get("serviceRole")
    have_role = current.get("serviceRole")
    if want_role is not None and want_role != have_role:
        if is_service_linked(want_role) or is_service_linked(have_role):
            replace.append("serviceRole (service-linked <-> regular role)")
        else:
            update["serviceRole"] = want_role
    if desired.get("state") and desired["state"] != current.get("state"):
        update["state"] = desired["state"]

    want_cr = desired.get("computeResources") or {}
    have_cr = current.get("computeResources") or {}
    changed = compute_resources_changes(want_cr, have_cr)
    have_strategy = have_cr.get("allocationStrategy", "BEST_FIT")
    want_strategy = want_cr.get("allocationStrategy", have_strategy)
    fargate = want_cr.get("type", "").startswith("FARGATE")
    if fargate != have_cr.get("type", "").startswith("FARGATE"):
        replace.append("compute_resources.type (Fargate <-> EC2/Spot)")
    infra_ok = (
        have_strategy in INFRA_UPDATE_STRATEGIES
        and want_strategy in INFRA_UPDATE_STRATEGIES
        and is_service_linked(want_role if want_role is not None else have_role)
    )
    cr_update = {}
    for key in changed:
        in_place = key in CR_SCALING_FIELDS or (
            key in CR_FARGATE_UPDATABLE if fargate else (key in CR_INFRA_FIELDS and infra_ok)
        )
        if in_place:
            cr_update[key] = want_cr[key]
        else:
            replace.append(f"compute_resources.{key}")
    if cr_update and not replace:
        update["computeResources"] = cr_update
    if replace:
        update = {}
    return {"create": False, "update": update, "replace": replace}


# --------------------------------------------------------------------------- job queues


def time_limit_actions_request(actions):
    out = []
    for index, action in enumerate(actions or []):
        seconds = int(action["max_time_seconds"])
        if not 600 <= seconds <= 86400:
            raise BatchInputError(f"job_state_time_limit_actions[{index}].max_time_seconds must be 600-86400")
        out.append(
            {
                "reason": action["reason"],
                "state": action.get("state") or "RUNNABLE",
                "maxTimeSeconds": seconds,
                "action": action.get("action") or "CANCEL",
            }
        )
    return out


def normalize_time_limit_actions(actions):
    return sorted(
        (
            {
                "reason": a["reason"],
                "state": a.get("state", "RUNNABLE"),
                "maxTimeSeconds": int(a["maxTimeSeconds"]),
                "action": a.get("action", "CANCEL"),
            }
            for a in actions or []
        ),
        key=lambda a: (a["reason"], a["state"], a["maxTimeSeconds"]),
    )


def ce_order(arns):
    """Ordered ARNs -> computeEnvironmentOrder."""
    if not arns:
        raise BatchInputError("a job queue needs at least one compute environment")
    if len(arns) > MAX_QUEUE_COMPUTE_ENVIRONMENTS:
        raise BatchInputError(
            f"a job queue takes at most {MAX_QUEUE_COMPUTE_ENVIRONMENTS} compute environments"
        )
    if len(set(arns)) != len(arns):
        raise BatchInputError("compute_environments lists one environment twice")
    return [{"order": i + 1, "computeEnvironment": arn} for i, arn in enumerate(arns)]


def ordered_ce_arns(order):
    """computeEnvironmentOrder -> ARNs, lowest order first."""
    return [o["computeEnvironment"] for o in sorted(order or [], key=lambda o: int(o["order"]))]


def plan_job_queue(desired, current):
    """``{"create", "update", "problems", "unsupported"}`` to move current (describe) to desired.

    ``desired`` holds CreateJobQueue kwargs. A scheduling policy can be swapped but
    not added to an existing FIFO queue: that lands in ``problems``. Leaving
    ``schedulingPolicyArn`` out of ``desired`` leaves the queue's policy alone.
    ``unsupported`` names wanted fields the endpoint's describe answer lacks entirely
    (not stored there, so not compared).
    """
    if current is None:
        return {"create": True, "update": {}, "problems": [], "unsupported": []}
    update, problems = {}, []
    if desired["state"] != current.get("state"):
        update["state"] = desired["state"]
    if int(desired["priority"]) != int(current.get("priority", -1)):
        update["priority"] = int(desired["priority"])
    if ordered_ce_arns(desired["computeEnvironmentOrder"]) != ordered_ce_arns(
        current.get("computeEnvironmentOrder")
    ):
        update["computeEnvironmentOrder"] = desired["computeEnvironmentOrder"]
    want_policy = desired.get("schedulingPolicyArn")
    have_policy = current.get("schedulingPolicyArn")
    if want_policy != have_policy and want_policy is not None:
        if have_policy:
            update["schedulingPolicyArn"] = want_policy
        else:
            problems.append(
                "a scheduling policy cannot be added to an existing FIFO job queue;"
                " delete the queue (state=absent) and create it again"
            )
    unsupported = []
    if "jobStateTimeLimitActions" in desired:
        if "jobStateTimeLimitActions" not in current:
            # An answer without the key comes from an endpoint that does not store the
            # field (the local AWS, moto): comparing would report a change on every run,
            # so the caller warns instead.
            unsupported.append("jobStateTimeLimitActions")
        elif normalize_time_limit_actions(
            desired["jobStateTimeLimitActions"]
        ) != normalize_time_limit_actions(current["jobStateTimeLimitActions"]):
            update["jobStateTimeLimitActions"] = desired["jobStateTimeLimitActions"]
    return {"create": False, "update": update, "problems": problems, "unsupported": unsupported}


# --------------------------------------------------------------------------- AWS calls


def wait_for(fetch, ready, timeout, delay=5, what="resource"):
    """Poll ``fetch()`` until ``ready(result)`` is true; INVALID status fails at once.

    ``fetch`` returns the describe dict or None (gone). Returns the last result.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if ready(result):
            return result
        if result is not None and result.get("status") == "INVALID":
            raise BatchWaitError(f"{what} is INVALID: {result.get('statusReason', 'no reason')}")
        if time.monotonic() >= deadline:
            status = None if result is None else result.get("status")
            raise BatchWaitError(f"timed out after {timeout}s waiting for {what} (status {status})")
        time.sleep(delay)


def settled(result):
    """VALID and not mid-change (CREATING/UPDATING report other statuses)."""
    return result is not None and result.get("status") == "VALID"


def gone(result):
    return result is None or result.get("status") == "DELETED"


def describe_compute_environment(client, name):
    res = client.describe_compute_environments(computeEnvironments=[name], aws_retry=True)
    envs = [
        e
        for e in res.get("computeEnvironments", [])
        if name in (e["computeEnvironmentName"], e["computeEnvironmentArn"])
    ]
    return envs[0] if envs else None


def describe_job_queue(client, name):
    res = client.describe_job_queues(jobQueues=[name], aws_retry=True)
    queues = [q for q in res.get("jobQueues", []) if name in (q["jobQueueName"], q["jobQueueArn"])]
    return queues[0] if queues else None


def all_job_queues(client):
    queues, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        res = client.describe_job_queues(aws_retry=True, **kwargs)
        queues.extend(res.get("jobQueues", []))
        token = res.get("nextToken")
        if not token:
            return queues


def job_definition_revisions(client, name, status="ACTIVE"):
    """Every revision of ``name`` with ``status``, oldest first."""
    revs, token = [], None
    while True:
        kwargs = {"jobDefinitionName": name, "status": status}
        if token:
            kwargs["nextToken"] = token
        res = client.describe_job_definitions(aws_retry=True, **kwargs)
        revs.extend(d for d in res.get("jobDefinitions", []) if d.get("jobDefinitionName") == name)
        token = res.get("nextToken")
        if not token:
            return sorted(revs, key=lambda d: int(d["revision"]))


def apply_tags(client, arn, current, desired, purge, check_mode):
    """Tag/untag ``arn``; returns True when something changed (or would)."""
    to_set, to_remove = tag_changes(current, desired, purge)
    if not to_set and not to_remove:
        return False
    if not check_mode:
        if to_remove:
            client.untag_resource(resourceArn=arn, tagKeys=to_remove, aws_retry=True)
        if to_set:
            client.tag_resource(resourceArn=arn, tags=to_set, aws_retry=True)
    return True


# --------------------------------------------------------------------------- scheduling policies


def fairshare_policy_request(policy):
    """Module fairshare_policy -> API fairsharePolicy (validated)."""
    policy = policy or {}
    out = {
        "shareDecaySeconds": int(policy.get("share_decay_seconds") or 0),
        "computeReservation": int(policy.get("compute_reservation") or 0),
        "shareDistribution": [],
    }
    if not 0 <= out["shareDecaySeconds"] <= 604800:
        raise BatchInputError("fairshare_policy.share_decay_seconds must be 0-604800")
    if not 0 <= out["computeReservation"] <= 99:
        raise BatchInputError("fairshare_policy.compute_reservation must be 0-99")
    seen = set()
    for index, share in enumerate(policy.get("share_distribution") or []):
        ident = share.get("share_identifier")
        if not ident:
            raise BatchInputError(f"fairshare_policy.share_distribution[{index}] needs share_identifier")
        if ident in seen:
            raise BatchInputError(f"fairshare_policy.share_distribution lists {ident!r} twice")
        seen.add(ident)
        entry = {"shareIdentifier": ident}
        if share.get("weight_factor") is not None:
            weight = float(share["weight_factor"])
            if not 0.0001 <= weight <= 999.9999:
                raise BatchInputError(
                    f"fairshare_policy.share_distribution[{index}].weight_factor must be 0.0001-999.9999"
                )
            entry["weightFactor"] = weight
        out["shareDistribution"].append(entry)
    return out


def normalize_fairshare_policy(policy):
    """Comparable fairsharePolicy: AWS defaults (0, weight 1.0) filled, shares sorted."""
    policy = policy or {}
    return {
        "shareDecaySeconds": int(policy.get("shareDecaySeconds") or 0),
        "computeReservation": int(policy.get("computeReservation") or 0),
        "shareDistribution": sorted(
            (
                {
                    "shareIdentifier": s["shareIdentifier"],
                    "weightFactor": float(s.get("weightFactor") or 1.0),
                }
                for s in policy.get("shareDistribution") or []
            ),
            key=lambda s: s["shareIdentifier"],
        ),
    }


def find_scheduling_policy(client, name):
    """The scheduling policy called ``name`` (describe answer) or None."""
    arns, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        res = client.list_scheduling_policies(aws_retry=True, **kwargs)
        arns.extend(
            p["arn"] for p in res.get("schedulingPolicies", []) if p["arn"].rsplit("/", 1)[-1] == name
        )
        token = res.get("nextToken")
        if not token:
            break
    if not arns:
        return None
    res = client.describe_scheduling_policies(arns=arns[:1], aws_retry=True)
    policies = res.get("schedulingPolicies", [])
    return policies[0] if policies else None
