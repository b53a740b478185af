#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: local_registry
short_description: Run a local registry v2 (docker-registry) on loopback as ECR's data-plane stand-in
description:
  - The local AWS implements ECR's API but stores no images. In the embedded mode images
    are pushed to and pulled from this registry instead.
  - Ensures a registry answers C(GET /v2/) on O(host):O(port), reusing a healthy one; the one
    it starts runs C(docker-registry serve O(config_file)) with its storage in O(data_dir)
    and its pid in O(pid_file), so O(state=stopped) stops only a registry this module started.
  - Reports C(changed) only when a registry was started, restarted (new configuration) or stopped.
options:
  state:
    description: Whether the registry should be running.
    type: str
    choices: [started, stopped]
    default: started
  host:
    description: Loopback address to listen on. Routable addresses are refused (no authentication).
    type: str
    default: 127.0.0.1
  port:
    description: TCP port to listen on.
    type: int
    default: 5050
  config_file:
    description: The registry's configuration file (written by this module).
    type: path
    required: true
  data_dir:
    description: Where the registry stores blobs and manifests.
    type: path
    required: true
  pid_file:
    description: Where the registry's pid is recorded.
    type: path
    required: true
  log_file:
    description: The registry's log.
    type: path
    required: true
  executable:
    description: The registry v2 server binary.
    type: str
    default: docker-registry
  wait_timeout:
    description: Seconds to wait for the registry to answer.
    type: int
    default: 30
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Start the local registry
  lmpspot.local.local_registry:
    port: 5050
    config_file: "{{ lmpspot_state_dir }}/registry/config.yml"
    data_dir: "{{ lmpspot_state_dir }}/registry/data"
    pid_file: "{{ lmpspot_state_dir }}/registry.pid"
    log_file: "{{ lmpspot_state_dir }}/registry.log"
"""

RETURN = r"""
url:
  description: Base URL of the registry's v2 API.
  returned: always
  type: str
  sample: http://127.0.0.1:5050
address:
  description: host:port, the registry part of image names.
  returned: always
  type: str
  sample: 127.0.0.1:5050
pid:
  description: Pid of the registry started or stopped (null for one found running that we did not record).
  returned: always
  type: int
healthy:
  description: Whether the registry answers after the module ran.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lmpspot.local.plugins.module_utils import local_registry


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 5050},
            "config_file": {"type": "path", "required": True},
            "data_dir": {"type": "path", "required": True},
            "pid_file": {"type": "path", "required": True},
            "log_file": {"type": "path", "required": True},
            "executable": {"type": "str", "default": "docker-registry"},
            "wait_timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["state"] == "started":
            res = local_registry.start(
                p["host"],
                p["port"],
                p["config_file"],
                p["data_dir"],
                p["pid_file"],
                p["log_file"],
                executable=p["executable"],
                wait_s=float(p["wait_timeout"]),
                check_mode=module.check_mode,
            )
        else:
            res = local_registry.stop(p["pid_file"], check_mode=module.check_mode)
            res.update(local_registry._where(p["host"], p["port"]))
    except local_registry.LocalRegistryError as exc:
        module.fail_json(msg=str(exc))
    res["healthy"] = local_registry.is_healthy(p["host"], p["port"])
    module.exit_json(**res)


if __name__ == "__main__":
    main()
