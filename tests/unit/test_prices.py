"""lmpspot.prices: the shipped table is valid and sourced; lookups; synthetic detection.

Shapes in the table are checked against moto's copy of EC2 DescribeInstanceTypes (the
data AWS serves), so a typo in GPUs, vCPUs or memory fails here.
"""

from __future__ import annotations

import copy
import json
import re

import boto3
import pytest
from moto import mock_aws

from lmpspot import prices
from lmpspot.prices import Price, PriceTableError, load_table, price_per_hour, table_path, validate_table

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def table() -> dict:
    return load_table()


def test_shipped_table_is_valid(table):
    assert validate_table(table) == []
    assert table_path().name == "prices.json"


def test_every_number_has_a_source_url_and_a_date(table):
    numbers = nulls = 0
    for itype, regions in table["prices"].items():
        for region, caps in regions.items():
            for cap, entry in caps.items():
                if entry["usd_per_hour"] is None:
                    nulls += 1
                    assert len(entry["reason"]) > 20, (itype, region, cap)
                    continue
                numbers += 1
                src = table["sources"][entry["source"]]
                assert src["url"].startswith("https://"), (itype, region, cap)
                assert DATE.match(entry["as_of"]) and DATE.match(src["retrieved"])
    # The table holds real figures for the seed design's p4d.24xlarge and some nulls.
    assert numbers >= 5 and nulls > 0


def test_shapes_match_describe_instance_types(table):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        found = ec2.describe_instance_types(InstanceTypes=list(table["shapes"]))["InstanceTypes"]
    assert {f["InstanceType"] for f in found} == set(table["shapes"])
    for f in found:
        shape = table["shapes"][f["InstanceType"]]
        gpus = f["GpuInfo"]["Gpus"]
        assert shape["gpus"] == sum(g["Count"] for g in gpus), f["InstanceType"]
        assert shape["gpu_model"] == gpus[0]["Name"]
        assert shape["vcpus"] == f["VCpuInfo"]["DefaultVCpus"]
        assert shape["memory_gib"] * 1024 == f["MemoryInfo"]["SizeInMiB"]


def test_table_lookup_of_a_sourced_price():
    p = price_per_hour("p4d.24xlarge", "us-east-1", "on-demand")
    assert p.usd_per_hour == pytest.approx(21.957642)
    assert p.source.startswith("https://") and p.as_of == "2026-11-09"
    assert p.synthetic is False and "SYNTHETIC" not in p.label
    assert p.label == f"{p.source} (as of 2026-11-09)"


def test_null_and_missing_prices_say_why():
    null = price_per_hour("g6e.xlarge", "eu-central-1", "spot")
    assert null.usd_per_hour is None and "DescribeSpotPriceHistory" in null.note
    missing = price_per_hour("c5.large", "us-east-1", "on-demand")
    assert missing.usd_per_hour is None and missing.synthetic is False
    assert "no on-demand price for c5.large" in missing.note


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capacity": "reserved"}, "capacity must be one of"),
        ({"mode": "guess"}, "mode must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"instance_type": "p4d.24xlarge", "region": "us-east-1", "capacity": "spot"} | kwargs
    with pytest.raises(ValueError, match=message):
        price_per_hour(args.pop("instance_type"), args.pop("region"), args.pop("capacity"), **args)


def _entry(t):
    return t["prices"]["p4d.24xlarge"]["us-east-1"]["on-demand"]


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (lambda t: _entry(t).pop("source"), "source None is not in 'sources'"),
        (lambda t: _entry(t).update(as_of="Nov 2026"), "as_of must be a date"),
        (lambda t: _entry(t).update(usd_per_hour=-1), "positive number or null"),
        (lambda t: _entry(t).update(usd_per_hour=None), "a null price needs a 'reason'"),
        (lambda t: t["sources"]["datareceipts-hyperscalers"].update(url="http://x"), "needs an https url"),
        (lambda t: t["shapes"]["p4d.24xlarge"].update(gpus=0), "gpus must be a positive integer"),
        (lambda t: t["prices"]["p4d.24xlarge"]["us-east-1"].update(reserved={}), "capacity must be one of"),
        (lambda t: t["prices"].update({"x1.large": {}}), "no shape for it"),
    ],
)
def test_validation_names_the_broken_entry(table, breaks, message):
    broken = copy.deepcopy(table)
    breaks(broken)
    assert any(message in e for e in validate_table(broken)), validate_table(broken)


def test_load_table_refuses_an_invalid_file(tmp_path, table):
    broken = copy.deepcopy(table)
    _entry(broken).pop("as_of")
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(PriceTableError, match=r"prices\['p4d.24xlarge'\]\['us-east-1'\]\['on-demand'\]"):
        load_table(path)


@pytest.mark.parametrize(
    ("url", "real"),
    [
        ("https://ec2.us-east-1.amazonaws.com", True),
        ("https://api.pricing.us-east-1.amazonaws.com", True),
        ("https://ec2.cn-north-1.amazonaws.com.cn", True),
        ("https://127.0.0.1:5000", False),
        ("http://localhost:4566", False),
        ("https://amazonaws.com.evil.example", False),
        ("", False),
    ],
)
def test_only_aws_endpoints_give_real_prices(url, real):
    assert prices.is_real_aws_endpoint(url) is real


def test_price_list_product_parsing():
    """The Price List API's product JSON: OnDemand -> term -> priceDimensions -> USD per Hrs."""
    product = {
        "product": {"attributes": {"instanceType": "p4d.24xlarge"}},
        "terms": {
            "OnDemand": {
                "T1": {"priceDimensions": {"D1": {"unit": "Hrs", "pricePerUnit": {"USD": "21.9576420000"}}}}
            },
            "Reserved": {
                "R1": {"priceDimensions": {"D2": {"unit": "Quantity", "pricePerUnit": {"USD": "1"}}}}
            },
        },
    }
    assert prices._on_demand_usd(product) == [pytest.approx(21.957642)]


def test_synthetic_prices_are_labelled():
    p = Price(
        0.00001,
        source="ec2:DescribeSpotPriceHistory via https://127.0.0.1:1",
        as_of="2006-01-02",
        synthetic=True,
    )
    assert p.label.startswith(prices.SYNTHETIC_LABEL)
    assert p.as_dict()["label"] == p.label and p.as_dict()["synthetic"] is True
