"""SSH source ranges: minimum prefix length (preflight and the network role) and IPv4/IPv6 rules."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter.ssh_cidrs import sg_cidr_rules, ssh_cidr_problems
from ansible_collections.lmpspot.aws.plugins.filter.validate import config_problems


@pytest.mark.parametrize(
    ("cidrs", "words"),
    [
        (["0.0.0.0/0"], ["0.0.0.0/0 (/0)", "network_ssh_min_prefix_ipv4", "whole internet"]),
        (["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/1 (/1)", "128.0.0.0/1 (/1)", "network_ssh_min_prefix_ipv4"]),
        (["10.0.0.0/8"], ["10.0.0.0/8 (/8) is wider than network_ssh_min_prefix_ipv4 (/16)"]),
        (["::/0"], ["network_ssh_min_prefix_ipv6", "whole internet"]),
        (["::/1", "8000::/1"], ["::/1 (/1)", "8000::/1 (/1)"]),
        (["2001:db8::/32"], ["2001:db8::/32 (/32) is wider than network_ssh_min_prefix_ipv6 (/48)"]),
        (["203.0.113.5/24"], ["host bits", "203.0.113.0/24"]),
        (["203.0.113.5"], ["ADDRESS/PREFIX"]),
        (["not-a-cidr/8"], ["not a valid CIDR"]),
        ("203.0.113.0/24", ["must be a list"]),
    ],
)
def test_too_wide_or_bad_ranges_are_refused(cidrs, words):
    for problems in (
        ssh_cidr_problems(cidrs, False, 16, 48),  # the network role's guard
        config_problems({"network_ssh_allowed_cidrs": cidrs}),  # preflight
    ):
        text = " | ".join(problems)
        assert problems and all(p.startswith("network_ssh_") for p in problems), problems
        for w in words:
            assert w in text, (w, problems)


@pytest.mark.parametrize(
    ("cidrs", "min_v4", "min_v6"),
    [
        (["203.0.113.0/24"], 16, 48),
        (["198.51.100.7/32", "2001:db8:1::/48"], 16, 48),
        (["10.0.0.0/8"], 8, 48),  # the deployer lowered the minimum on purpose
        (["2001:db8::/32"], 16, 32),
        ([], 16, 48),  # port 22 closed: Session Manager only (docs/ACCESS.md)
    ],
)
def test_narrow_enough_ranges_pass(cidrs, min_v4, min_v6):
    assert ssh_cidr_problems(cidrs, False, min_v4, min_v6) == []
    cfg = {
        "network_ssh_allowed_cidrs": cidrs,
        "network_ssh_min_prefix_ipv4": min_v4,
        "network_ssh_min_prefix_ipv6": min_v6,
    }
    assert config_problems(cfg) == []


def test_anywhere_opt_in_lifts_the_limit():
    assert ssh_cidr_problems(["0.0.0.0/1", "::/0"], True) == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("network_ssh_min_prefix_ipv4", 0),
        ("network_ssh_min_prefix_ipv4", 33),
        ("network_ssh_min_prefix_ipv4", "sixteen"),
        ("network_ssh_min_prefix_ipv6", 129),
        ("network_ssh_min_prefix_ipv6", True),
    ],
)
def test_bad_minimum_settings_are_named(setting, value):
    problems = config_problems({"network_ssh_allowed_cidrs": ["203.0.113.0/24"], setting: value})
    assert len(problems) == 1 and problems[0].startswith(setting + ":"), problems


def test_rules_put_ipv4_and_ipv6_in_their_own_fields():
    rules = sg_cidr_rules(["203.0.113.0/24", "2001:db8:1::/48"])
    assert rules == [
        {"proto": "tcp", "ports": [22], "cidr_ip": "203.0.113.0/24", "rule_desc": "SSH from an allowed CIDR"},
        {
            "proto": "tcp",
            "ports": [22],
            "cidr_ipv6": "2001:db8:1::/48",
            "rule_desc": "SSH from an allowed CIDR",
        },
    ]


@pytest.mark.parametrize("bad", ["203.0.113.0/24", ["nope"], ["203.0.113.5/24"], [None]])
def test_rules_refuse_bad_input(bad):
    with pytest.raises(AnsibleFilterError):
        sg_cidr_rules(bad)


def test_filter_refuses_a_non_bool_opt_in():
    with pytest.raises(AnsibleFilterError, match="network_allow_ssh_from_anywhere"):
        ssh_cidr_problems(["203.0.113.0/24"], "yes")
