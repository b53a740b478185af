"""lmpspot.prices online path against the local AWS (moto server over https).

moto answers every spot price with 0.00001 USD and has no Price List API: whatever the
online path reads there must come back flagged synthetic and labelled so.
"""

from __future__ import annotations

import boto3
import pytest

from lmpspot.prices import SYNTHETIC_LABEL, price_per_hour

pytestmark = pytest.mark.integration


@pytest.fixture
def session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-2"
    )


def test_spot_price_from_local_aws_is_synthetic(aws, session):
    p = price_per_hour(
        "p4d.24xlarge",
        "us-east-1",
        "spot",
        mode="aws",
        session=session,
        endpoint_url=aws.endpoint_url,
        verify=aws.ca_bundle,
    )
    assert p.usd_per_hour == pytest.approx(0.00001)
    assert p.synthetic is True
    assert p.label.startswith(SYNTHETIC_LABEL) and p.note.startswith(SYNTHETIC_LABEL)
    assert aws.endpoint_url in p.source
    # One latest price per AZ that offers the type in that region; the median is reported.
    assert p.detail["by_az"] and all(az.startswith("us-east-1") for az in p.detail["by_az"])


def test_unknown_type_has_no_spot_history(aws, session):
    p = price_per_hour(
        "p4d.nonexistent",
        "us-east-1",
        "spot",
        mode="aws",
        session=session,
        endpoint_url=aws.endpoint_url,
        verify=aws.ca_bundle,
    )
    assert p.usd_per_hour is None and p.synthetic is True and "no spot price history" in p.note


def test_on_demand_from_local_aws_is_synthetic_and_says_why_it_is_missing(aws, session):
    p = price_per_hour(
        "p4d.24xlarge",
        "us-east-1",
        "on-demand",
        mode="aws",
        session=session,
        endpoint_url=aws.endpoint_url,
        verify=aws.ca_bundle,
    )
    assert p.synthetic is True and p.label.startswith(SYNTHETIC_LABEL)
    # moto has no Price List API: no number, and the note says the lookup failed.
    assert p.usd_per_hour is None and "lookup failed" in p.note
