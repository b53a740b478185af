"""lmpspot.aws module_utils/batch_common.py: the client, describe and waits Batch modules share."""

from __future__ import annotations

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import batch_common
from ansible_collections.lmpspot.aws.plugins.modules import batch_compute_environment, batch_job_queue


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, **params):
        self.params = {"name": "ce-1", "wait_timeout": 0, "wait_delay": 0, **params}
        self.clients = []

    def client(self, service, retry_decorator=None):
        self.clients.append((service, retry_decorator is not None))
        return object()

    def fail_json(self, msg, **kwargs):
        raise Failed(msg)


class Thing(batch_common.BatchResource):
    kind = "thing"

    def __init__(self, module, answers):
        super().__init__(module)
        self.answers = list(answers)

    def describe(self):
        return self.answers.pop(0)


def test_init_takes_a_retrying_batch_client_and_the_name():
    module = FakeModule()
    thing = Thing(module, [])
    assert module.clients == [("batch", True)]
    assert (thing.module, thing.params, thing.name) == (module, module.params, "ce-1")


def test_wait_returns_the_ready_answer():
    thing = Thing(FakeModule(wait_timeout=5), [{"status": "CREATING"}, {"status": "VALID"}])
    assert thing.wait(lambda r: r["status"] == "VALID", "creating") == {"status": "VALID"}


def test_wait_fails_the_module_naming_kind_name_and_step():
    thing = Thing(FakeModule(), [{"status": "INVALID", "statusReason": "no subnet"}])
    with pytest.raises(Failed, match=r"^thing ce-1 \(creating\) is INVALID: no subnet$"):
        thing.wait(lambda r: False, "creating")


def test_wait_until_uses_the_given_fetch_and_message():
    thing = Thing(FakeModule(), [])
    with pytest.raises(Failed, match=r"timed out after 0s waiting for job queue q1 \(status None\)"):
        thing.wait_until(lambda: None, lambda r: False, "job queue q1")


def test_base_describe_is_abstract():
    with pytest.raises(NotImplementedError):
        batch_common.BatchResource(FakeModule()).describe()


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (batch_compute_environment.ComputeEnvironmentManager, "compute environment"),
        (batch_job_queue.JobQueueManager, "job queue"),
    ],
)
def test_modules_subclass_it(cls, kind):
    assert issubclass(cls, batch_common.BatchResource)
    assert cls.kind == kind
