"""The spot handler's real state on the converged container, and its reaction to notices
served by the local IMDS stand-in (lmpspot_local.imds_stub) inside the container.

The stand-in is not part of what the role installs (the host's venv holds the product
alone), so the test copies its one file in and runs it with the venv's python (it needs
only the standard library and lmpspot.timefmt)."""

import json
import time
from pathlib import Path

UNIT = "lmpspot-spot-handler.service"
VENV_PY = "/opt/lmpspot/venv/bin/python"
IMDS = "http://127.0.0.1:18111"
# POST to the stub's control endpoint: `{POST} rebalance`, `{POST} interrupt`.
POST = (
    f'{VENV_PY} -c "import urllib.request as u, sys; '
    f"u.urlopen(u.Request('{IMDS}/lmpspot/' + sys.argv[1], data=b'{{}}', method='POST'))\""
)
STATE = f"{VENV_PY} -c \"import urllib.request as u; u.urlopen('{IMDS}/lmpspot/state')\""
DUMMY = Path(__file__).resolve().parents[2] / "resources" / "dummy_sim.py"
IMDS_STUB = Path(__file__).resolve().parents[3] / "local" / "src" / "lmpspot_local" / "imds_stub.py"


def wait_for(host, cmd, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.run(cmd).rc == 0:
            return True
        time.sleep(0.5)
    return False


def test_service_enabled_and_running(host):
    svc = host.service(UNIT)
    assert svc.is_enabled
    assert svc.is_running
    props = host.check_output(
        f"systemctl show {UNIT} -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p Restart "
        "-p CapabilityBoundingSet -p ReadWritePaths -p User"
    )
    assert "NoNewPrivileges=yes" in props
    assert "ProtectSystem=strict" in props
    assert "PrivateTmp=yes" in props
    assert "Restart=on-failure" in props
    assert "CapabilityBoundingSet=cap_kill" in props
    assert "ReadWritePaths=/run/lmpspot" in props


def test_unit_file_and_run_dir(host):
    unit = host.file(f"/etc/systemd/system/{UNIT}")
    assert unit.user == "root" and unit.group == "root" and unit.mode == 0o644
    assert unit.content_string.startswith("#")  # ansible_managed first
    assert host.run(f"systemd-analyze verify /etc/systemd/system/{UNIT}").rc == 0
    rd = host.file("/run/lmpspot")
    assert rd.is_directory and rd.user == "root" and rd.group == "lmpspot"
    assert rd.mode == 0o3775
    assert "d /run/lmpspot 3775 root lmpspot" in host.file("/etc/tmpfiles.d/lmpspot-run.conf").content_string


def test_runtime_installed_in_its_venv(host):
    out = host.check_output(f"{VENV_PY} -c 'import lmpspot.hostagent, boto3; print(lmpspot.__file__)'")
    assert out.startswith("/opt/lmpspot/venv/lib/")


def test_handler_signals_registered_simulations_on_notices(host):
    # A fresh handler (after a notice it keeps stopping new runs: re-running verify needs this)
    host.check_output(f"systemctl restart {UNIT} && rm -rf /srv/mol-job")
    host.check_output(f"install -m 0644 /dev/stdin /root/imds_stub.py <<'EOF'\n{IMDS_STUB.read_text()}\nEOF")
    stub = host.run(
        f"systemd-run --unit lmpspot-imds-stub --collect {VENV_PY} /root/imds_stub.py --port 18111"
    )
    assert stub.rc == 0, stub.stderr
    try:
        assert wait_for(host, STATE)
        host.check_output(f"install -m 0644 /dev/stdin /root/dummy_sim.py <<'EOF'\n{DUMMY.read_text()}\nEOF")
        sim = host.run(
            "systemd-run --unit lmpspot-dummy-sim --collect "
            f"{VENV_PY} /root/dummy_sim.py mol-job /srv/mol-job"
        )
        assert sim.rc == 0, sim.stderr
        assert wait_for(host, "test -f /srv/mol-job/ready && test -f /run/lmpspot/mol-job.json")
        entry = json.loads(host.file("/run/lmpspot/mol-job.json").content_string)
        assert entry["job_id"] == "mol-job" and entry["workdir"] == "/srv/mol-job"

        host.check_output(f"{POST} rebalance")
        assert wait_for(host, "grep -qx SIGUSR1 /srv/mol-job/signals.log")
        # a rebalance asks for a checkpoint; the simulation keeps running
        assert host.service("lmpspot-dummy-sim").is_running

        host.check_output(f"{POST} interrupt")
        assert wait_for(host, "grep -qx SIGTERM /srv/mol-job/signals.log")
        assert wait_for(host, "! systemctl is-active --quiet lmpspot-dummy-sim")
        assert host.file("/srv/mol-job/signals.log").content_string.splitlines() == ["SIGUSR1", "SIGTERM"]
        # the run unregistered itself on exit
        assert not host.file("/run/lmpspot/mol-job.json").exists
        journal = host.check_output(f"journalctl -u {UNIT} --no-pager -o cat")
        assert "sent SIGUSR1 to job mol-job" in journal
        assert "sent SIGTERM to job mol-job" in journal
        assert host.service(UNIT).is_running  # the handler itself stays up
    finally:
        host.run("systemctl stop lmpspot-dummy-sim lmpspot-imds-stub")
