# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part every lmpspot.aws.batch_* module that manages one named Batch resource shares.

``BatchResource`` holds the module, its parameters, a retrying Batch client and the
resource's name, and waits on the resource (options ``wait_timeout``/``wait_delay``),
turning a failed wait into ``fail_json``. Subclasses say what the resource is called in
messages (``kind``) and how to describe it (``describe``).
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import batch


class BatchResource:
    """One AWS Batch resource named by the module's ``name`` option."""

    kind = "resource"  # how messages name it: "compute environment", "job queue" ...

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.client = module.client("batch", retry_decorator=AWSRetry.jittered_backoff())
        self.name = self.params["name"]

    def describe(self):
        """The describe answer for the resource, or None when it does not exist."""
        raise NotImplementedError

    def wait_until(self, fetch, ready, what):
        """``batch.wait_for`` under the module's wait options; a failed wait fails the module."""
        try:
            return batch.wait_for(
                fetch,
                ready,
                self.params["wait_timeout"],
                self.params["wait_delay"],
                what=what,
            )
        except batch.BatchWaitError as exc:
            self.module.fail_json(msg=str(exc))

    def wait(self, ready, what):
        """Wait until ``ready(self.describe())``; ``what`` says which step is waited for."""
        return self.wait_until(self.describe, ready, f"{self.kind} {self.name} ({what})")
