"""lmpspot.aws module_utils/tags.py: the one tag diff of the modules with tags/purge_tags."""

from __future__ import annotations

import itertools

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import tags


@pytest.mark.parametrize(
    ("current", "desired", "purge", "expected"),
    [
        ({"a": "1"}, None, True, ({}, [])),
        ({"a": "1"}, {"a": "1"}, True, ({}, [])),
        ({"a": "1", "b": "2"}, {"a": "1"}, True, ({}, ["b"])),
        ({"a": "1", "b": "2"}, {"a": "1"}, False, ({}, [])),
        ({"a": "1"}, {"a": "2", "c": "3"}, True, ({"a": "2", "c": "3"}, [])),
        (None, {}, True, ({}, [])),
        ({"z": "1", "b": "2", "a": "1"}, {}, True, ({}, ["a", "b", "z"])),
    ],
)
def test_tag_changes(current, desired, purge, expected):
    assert tags.tag_changes(current, desired, purge) == expected


def test_str_values():
    assert tags.str_values(None) is None
    assert tags.str_values({"n": 1, "on": True, "s": "x"}) == {"n": "1", "on": "True", "s": "x"}


@pytest.mark.parametrize(
    ("current", "desired", "purge", "expected"),
    [
        ({"a": "1", "b": "2"}, {"a": "3"}, True, {"a": "3"}),
        ({"a": "1", "b": "2"}, {"a": "3"}, False, {"a": "3", "b": "2"}),
        (None, {"a": "1"}, False, {"a": "1"}),
    ],
)
def test_tags_after(current, desired, purge, expected):
    assert tags.tags_after(current, desired, purge) == expected


# What the eventbridge and sns_topic modules computed inline before they shared tag_changes.
def _old_eventbridge(cur_tags, p_tags, purge):
    to_set, to_remove = {}, []
    if p_tags is not None:
        to_set = {k: str(v) for k, v in p_tags.items() if cur_tags.get(k) != str(v)}
        if purge:
            to_remove = sorted(k for k in cur_tags if k not in p_tags)
    return to_set, to_remove


def _old_sns(cur_tags, p_tags, purge):
    want_tags, to_tag, to_untag = dict(cur_tags), {}, []
    if p_tags is not None:
        to_tag = {k: str(v) for k, v in p_tags.items() if cur_tags.get(k) != str(v)}
        if purge:
            to_untag = sorted(k for k in cur_tags if k not in p_tags)
        want_tags = {k: v for k, v in cur_tags.items() if k not in to_untag}
        want_tags.update(to_tag)
    return to_tag, to_untag, want_tags


CURRENT = [{}, {"a": "1"}, {"b": "2", "a": "1"}, {"n": "1", "c": "x"}]
WANTED = [None, {}, {"a": "1"}, {"a": 2, "n": 1}, {"c": "x", "on": True}]


@pytest.mark.parametrize(("cur", "want", "purge"), list(itertools.product(CURRENT, WANTED, (True, False))))
def test_callers_get_what_they_computed_before(cur, want, purge):
    assert tags.tag_changes(cur, tags.str_values(want), purge) == _old_eventbridge(cur, want, purge)
    to_tag, to_untag = tags.tag_changes(cur, tags.str_values(want), purge)
    after = {k: v for k, v in cur.items() if k not in to_untag}
    after.update(to_tag)
    old = _old_sns(cur, want, purge)
    assert (to_tag, to_untag, after) == old
    assert list(after) == list(old[2])
