#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: podman_containers_conf
short_description: Write the containers.conf podman needs on this machine, found by trying
description:
  - Runs C(/bin/true) in a throw-away container (root filesystem copied from the host, no
    image needed) first with podman's defaults, then, only if that fails, with C(runc) as
    the OCI runtime and/or lower C(default_ulimits), until one works.
  - Writes what worked to O(path); an empty settings file when podman's defaults work.
    Point C(CONTAINERS_CONF) at it (the module returns RV(environment) for that).
  - Reports C(changed) only when the file's content changes. In check mode the probes
    still run (they change nothing) but the file is not written.
options:
  path:
    description: Where to write the containers.conf (its directory also holds the probe root filesystem).
    type: path
    required: true
  executable:
    description: The podman executable.
    type: str
    default: podman
notes:
  - C(CONTAINERS_CONF) replaces the system containers.conf files for podman; the file written
    holds only what this machine needs.
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Detect podman's needs on this machine
  lmpspot.aws.podman_containers_conf:
    path: "{{ lmpspot_state_dir }}/containers.conf"
  register: podman_env

- name: Use it
  containers.podman.podman_image:
    name: localhost/lmpspot-base
    tag: bookworm
  environment: "{{ podman_env.environment }}"
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
runtime:
  description: The OCI runtime podman uses with the file.
  returned: always
  type: str
  sample: runc
runtime_overridden:
  description: Whether the file sets the runtime (the default one failed).
  returned: always
  type: bool
default_ulimits:
  description: The default_ulimits the file sets (empty when raising rlimits is permitted).
  returned: always
  type: list
  elements: str
  sample: ["nofile=20000:20000", "nproc=24091:24091"]
cgroup_version:
  description: The cgroup version podman reports.
  returned: always
  type: str
existed:
  description: Whether O(path) existed before the module ran.
  returned: always
  type: bool
environment:
  description: Environment variables to set for podman (C(CONTAINERS_CONF)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lmpspot.aws.plugins.module_utils import podman_env


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "executable": {"type": "str", "default": "podman"},
        },
        supports_check_mode=True,
    )
    podman = module.get_bin_path(module.params["executable"], required=True)
    try:
        res = podman_env.ensure(module.params["path"], podman=podman, check_mode=module.check_mode)
    except podman_env.PodmanEnvError as exc:
        module.fail_json(msg=str(exc))
    before = res.pop("before")
    res["existed"] = before != ""
    if module._diff:
        res["diff"] = {"before": before, "after": res["content"]}
    module.exit_json(**res)


if __name__ == "__main__":
    main()
