#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: local_aws
short_description: Run the local AWS (a moto server on loopback) for lmpspot's embedded mode
description:
  - Ensures a moto server answers on O(host):O(port), reusing a healthy one, and
    configures it so AWS Batch does not try to execute jobs itself.
  - Records the server's pid in O(pid_file) so that O(state=stopped) stops only a
    server this module started.
  - Reports C(changed) only when a server was started or stopped.
  - With O(tls_dir), the server speaks https with a certificate from a local CA kept in
    that directory (created once). Clients trust it through C(AWS_CA_BUNDLE). This keeps
    the results bucket's TLS-only policy in force in local mode, as in a real account.
options:
  state:
    description: Whether the local AWS should be running.
    type: str
    choices: [started, stopped]
    default: started
  host:
    description: Loopback address to listen on. Routable addresses are refused.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port to listen on.
    type: int
    default: 5000
  pid_file:
    description: Where the server's pid is recorded.
    type: path
    required: true
  log_file:
    description: The server's log.
    type: path
    required: true
  python:
    description:
      - Python interpreter whose environment has moto installed. Defaults to the
        interpreter running this module.
    type: path
  wait_timeout:
    description: Seconds to wait for the server to become healthy.
    type: int
    default: 60
  tls_dir:
    description:
      - Directory holding the local CA and the server certificate (created when missing).
      - When omitted, the server speaks plain http.
    type: path
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Start the local AWS
  lmpspot.local.local_aws:
    port: 5000
    pid_file: "{{ playbook_dir }}/.state/moto.pid"
    log_file: "{{ playbook_dir }}/.state/moto.log"
    tls_dir: "{{ playbook_dir }}/.state/tls"

- name: Stop it
  lmpspot.local.local_aws:
    state: stopped
    pid_file: "{{ playbook_dir }}/.state/moto.pid"
    log_file: "{{ playbook_dir }}/.state/moto.log"
"""

RETURN = r"""
endpoint_url:
  description: The URL AWS clients use for the local AWS.
  returned: always
  type: str
  sample: https://127.0.0.1:5000
ca_bundle:
  description: The CA certificate clients must trust (C(AWS_CA_BUNDLE)); null without O(tls_dir).
  returned: always
  type: str
pid:
  description: Pid of the server started or stopped (null for a server found running that we did not record).
  returned: always
  type: int
healthy:
  description: Whether the server answers after the module ran.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lmpspot.local.plugins.module_utils import local_aws


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "host": {"type": "str", "default": "127.0.0.1"},
            "port": {"type": "int", "default": 5000},
            "pid_file": {"type": "path", "required": True},
            "log_file": {"type": "path", "required": True},
            "python": {"type": "path"},
            "wait_timeout": {"type": "int", "default": 60},
            "tls_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    tls_dir = p["tls_dir"]
    ca_bundle = local_aws.tls_paths(tls_dir)["ca_cert"] if tls_dir else None
    current = local_aws.status(p["host"], p["port"], p["pid_file"], tls_dir=tls_dir)
    if module.check_mode:
        changed = (p["state"] == "started" and not current["healthy"]) or (
            p["state"] == "stopped" and current["pid"] is not None
        )
        module.exit_json(changed=changed, ca_bundle=ca_bundle, **current)
    try:
        if p["state"] == "started":
            res = local_aws.start(
                p["host"],
                p["port"],
                p["pid_file"],
                p["log_file"],
                python=p["python"],
                wait_s=p["wait_timeout"],
                tls_dir=tls_dir,
            )
        else:
            res = local_aws.stop(p["pid_file"])
    except local_aws.LocalAwsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=res["changed"],
        pid=res.get("pid"),
        endpoint_url=local_aws.endpoint_url(p["host"], p["port"], tls=bool(tls_dir)),
        healthy=local_aws.is_healthy(p["host"], p["port"], tls_dir=tls_dir),
        ca_bundle=ca_bundle,
    )


if __name__ == "__main__":
    main()
