"""ECR lifecycle policy evaluation (module_utils/ecr_lifecycle.py), the rules ECR documents."""

from __future__ import annotations

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils.ecr_lifecycle import (
    LifecyclePolicyError,
    expiring,
)

NOW = "2026-11-29T00:00:00Z"


def img(digest, day, *tags):
    return {"digest": digest, "tags": list(tags), "pushed_at": f"2026-11-{day:02d}T12:00:00Z"}


# The registry role's policy: untagged after 7 days, newest 2 tagged kept (count 2 here).
REGISTRY = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": 2,
            },
            "action": {"type": "expire"},
        },
    ]
}


def rule(prio, status, count_type, n, **sel):
    return {
        "rulePriority": prio,
        "selection": {"tagStatus": status, "countType": count_type, "countNumber": n, **sel},
        "action": {"type": "expire"},
    }


@pytest.mark.parametrize(
    ("policy", "images", "gone"),
    [
        # untagged: only those older than 7 days; tagged: all but the newest 2
        (
            REGISTRY,
            [
                img("u1", 1),
                img("u2", 25),
                img("a", 10, "cpu-a"),
                img("b", 20, "cpu-b"),
                img("c", 28, "cpu-c"),
            ],
            {"u1": 1, "a": 2},
        ),
        # nothing beyond the counts: nothing goes
        (REGISTRY, [img("b", 20, "cpu-b"), img("c", 28, "cpu-c")], {}),
        # an image claimed by a higher-priority rule is never expired by a lower one:
        # rule 1 keeps 5 release-* images, so the old release image survives rule 2's count of 1
        (
            {
                "rules": [
                    rule(1, "tagged", "imageCountMoreThan", 5, tagPrefixList=["release-"]),
                    rule(2, "any", "imageCountMoreThan", 1),
                ]
            },
            [img("r", 1, "release-1"), img("x", 10, "cpu-x"), img("y", 20, "cpu-y"), img("u", 21)],
            {"y": 2, "x": 2},
        ),
        # several prefixes: an image needs a tag for each of them
        (
            {"rules": [rule(1, "tagged", "sinceImagePushed", 3, tagPrefixList=["cpu-", "v"])]},
            [img("both", 1, "cpu-1", "v1"), img("one", 1, "cpu-2"), img("new", 28, "cpu-3", "v3")],
            {"both": 1},
        ),
        # patterns: * is the only wildcard (a dot is literal)
        (
            {"rules": [rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["gpu-*.x"])]},
            [img("g1", 1, "gpu-a.x"), img("g2", 2, "gpu-b.x"), img("g3", 3, "gpu-cxx")],
            {"g1": 1},
        ),
    ],
)
def test_expiring(policy, images, gone):
    got = expiring(policy, images, NOW)
    assert {g["digest"]: g["rule"] for g in got} == gone
    assert all(g["reason"] for g in got)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({}, "non-empty 'rules'"),
        ({"rules": [rule(1, "tagged", "imageCountMoreThan", 1)]}, "needs tagPrefixList or tagPatternList"),
        (
            {
                "rules": [
                    rule(1, "any", "imageCountMoreThan", 1),
                    rule(2, "untagged", "imageCountMoreThan", 1),
                ]
            },
            "highest rulePriority",
        ),
        (
            {
                "rules": [
                    rule(1, "untagged", "imageCountMoreThan", 1),
                    rule(1, "any", "imageCountMoreThan", 2),
                ]
            },
            "unique",
        ),
        ({"rules": [rule(1, "untagged", "imageCountMoreThan", 0)]}, "countNumber must be >= 1"),
        ({"rules": [rule(1, "untagged", "olderThan", 1)]}, "countType"),
        ({"rules": [rule(1, "sometimes", "imageCountMoreThan", 1)]}, "tagStatus must be"),
    ],
)
def test_bad_policies(policy, message):
    with pytest.raises(LifecyclePolicyError, match=message):
        expiring(policy, [img("a", 1, "t")], NOW)
