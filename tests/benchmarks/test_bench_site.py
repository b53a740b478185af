"""site.yml wall time against the local AWS: first apply, no-op re-apply, --check.

All three in one run, side by side; the ratio is what to compare across machines.
"""

from __future__ import annotations

import time

import pytest
from perfdoc import record, table

pytestmark = pytest.mark.bench


def test_site_apply_vs_noop(aws, playbook):
    timings = []
    for label, args in (("first apply", ()), ("no-op re-apply", ()), ("--check after apply", ("--check",))):
        start = time.monotonic()
        res = playbook("site.yml", aws, *args)
        elapsed = time.monotonic() - start
        assert res.rc == 0, res
        timings.append((label, elapsed, res.changed))
    first = timings[0][1]
    rows = [[label, f"{s:.1f}", changed, f"{s / first:.2f}"] for label, s, changed in timings]
    record(
        "site-apply",
        "site.yml against the local AWS",
        table(["run", "wall s", "changed", "ratio to first apply"], rows)
        + "\n\nEach row is one `ansible-playbook site.yml` against a fresh moto server, in order.",
    )
    assert timings[1][2] == 0 and timings[2][2] == 0
