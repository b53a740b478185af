"""Benchmarks reuse the suite's fixtures (local AWS, playbook runner)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import aws, moto_server, playbook  # noqa: E402, F401
