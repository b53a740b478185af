"""Instance prices per hour: a dated offline table shipped with lmpspot, or the AWS APIs.

``price_per_hour(instance_type, region, capacity)`` answers from the offline table
(``lmpspot/data/prices.json``) unless ``mode="aws"`` is given explicitly; then on-demand
prices come from the AWS Price List API (``pricing:GetProducts``, served from us-east-1)
and spot prices from ``ec2:DescribeSpotPriceHistory`` in the region.

Every :class:`Price` names its source and the date it is valid for.  A price read from
anything that is not an ``amazonaws.com`` endpoint -- the local AWS (moto), which answers
every spot price with a made-up 0.00001 USD -- is flagged ``synthetic=True`` and its
:attr:`Price.label` says so; callers print that label next to the number, always.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CAPACITIES = ("spot", "on-demand")
MODES = ("table", "aws")
SYNTHETIC_LABEL = "SYNTHETIC (local AWS, not a real price)"
# The Price List API is served from a few regions only; us-east-1 answers for all.
PRICING_API_REGION = "us-east-1"
# Hosts whose answers are real AWS prices.  Anything else (moto on loopback, a proxy
# stand-in) is treated as synthetic.
_REAL_AWS_HOST = re.compile(r"(^|\.)(amazonaws\.com|amazonaws\.com\.cn|api\.aws)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The Price List API names regions by their long location name in some fields and by
# code in `regionCode`; we filter by code.
_PRICING_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
    # p4d/p5 also have Capacity Block products; those are not on-demand prices.
    "marketoption": "OnDemand",
}


class PriceTableError(ValueError):
    """The offline price table is malformed (a price without a source or a date, ...)."""


@dataclass(frozen=True)
class Price:
    """One hourly price of one instance type in one region for one capacity type."""

    usd_per_hour: float | None
    source: str
    as_of: str
    synthetic: bool = False
    instance_type: str = ""
    region: str = ""
    capacity: str = ""
    # Why a price is missing, or what it summarises (e.g. the AZ spread of spot prices).
    note: str = ""
    # Extra numbers the source gave (e.g. per-AZ spot prices); informative only.
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """How to show where the number comes from; names synthetic prices as such."""
        if self.synthetic:
            return f"{SYNTHETIC_LABEL}; {self.source}"
        return f"{self.source} (as of {self.as_of})"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        return d


# --------------------------------------------------------------------------- table


def table_path() -> Path:
    """Where the shipped table lives (inside the installed package)."""
    return Path(str(resources.files("lmpspot") / "data" / "prices.json"))


def validate_table(data: Any) -> list[str]:
    """Every problem in a price table, as messages naming the entry; empty when valid."""
    errors: list[str] = []
    if not isinstance(data, dict):
        return ["the price table must be a JSON object"]
    sources = _check_sources(data.get("sources"), errors)
    shapes = _check_shapes(data.get("shapes"), sources, errors)
    _check_prices(data.get("prices"), sources, shapes, errors)
    return errors


def _check_sources(sources: Any, errors: list[str]) -> dict[str, Any]:
    """The table's 'sources' (empty when malformed); problems are appended to ``errors``."""
    if not isinstance(sources, dict) or not sources:
        errors.append("'sources' must map source ids to {url, title, retrieved}")
        return {}
    for sid, src in sources.items():
        if not isinstance(src, dict) or not str(src.get("url", "")).startswith("https://"):
            errors.append(f"source {sid!r} needs an https url")
        elif not _DATE.match(str(src.get("retrieved", ""))):
            errors.append(f"source {sid!r} needs 'retrieved' as YYYY-MM-DD")
    return sources


def _check_shapes(shapes: Any, sources: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    """The table's 'shapes' (empty when malformed); problems are appended to ``errors``."""
    if not isinstance(shapes, dict) or not shapes:
        errors.append("'shapes' must map instance types to their GPUs, vCPUs and memory")
        return {}
    for itype, shape in shapes.items():
        if not isinstance(shape, dict):
            errors.append(f"shape {itype!r} must be a mapping")
            continue
        for key in ("gpus", "vcpus", "memory_gib"):
            if not isinstance(shape.get(key), int) or isinstance(shape.get(key), bool) or shape[key] < 1:
                errors.append(f"shape {itype!r}: {key} must be a positive integer")
        if not isinstance(shape.get("gpu_model"), str) or not shape["gpu_model"]:
            errors.append(f"shape {itype!r}: gpu_model must be a name (e.g. A100)")
        if shape.get("source") not in sources:
            errors.append(f"shape {itype!r}: source {shape.get('source')!r} is not in 'sources'")
    return shapes


def _check_prices(prices: Any, sources: dict[str, Any], shapes: dict[str, Any], errors: list[str]) -> None:
    """Check the table's 'prices' against its sources and shapes; problems go to ``errors``."""
    if not isinstance(prices, dict):
        errors.append("'prices' must map instance type -> region -> capacity -> entry")
        return
    for itype, regions in prices.items():
        if itype not in shapes:
            errors.append(f"prices for {itype!r} but no shape for it in 'shapes'")
        if not isinstance(regions, dict):
            errors.append(f"prices[{itype!r}] must map regions to capacities")
            continue
        for region, caps in regions.items():
            if not isinstance(caps, dict):
                errors.append(f"prices[{itype!r}][{region!r}] must map capacities to entries")
                continue
            for cap, entry in caps.items():
                where = f"prices[{itype!r}][{region!r}][{cap!r}]"
                if cap not in CAPACITIES:
                    errors.append(f"{where}: capacity must be one of {', '.join(CAPACITIES)}")
                errors.extend(_price_entry_problems(where, entry, sources))


def _price_entry_problems(where: str, entry: Any, sources: dict[str, Any]) -> list[str]:
    """What is wrong with one price entry (``where`` names it in the messages)."""
    if not isinstance(entry, dict):
        return [f"{where} must be a mapping"]
    value = entry.get("usd_per_hour")
    if value is None:
        if not str(entry.get("reason", "")).strip():
            return [f"{where}: a null price needs a 'reason'"]
        return []
    errors = []
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        errors.append(f"{where}: usd_per_hour must be a positive number or null")
    if entry.get("source") not in sources:
        errors.append(f"{where}: source {entry.get('source')!r} is not in 'sources'")
    if not _DATE.match(str(entry.get("as_of", ""))):
        errors.append(f"{where}: as_of must be a date YYYY-MM-DD")
    return errors


def load_table(path: str | Path | None = None) -> dict[str, Any]:
    """The price table, validated; raises :class:`PriceTableError` listing every problem."""
    p = Path(path) if path else table_path()
    return _load_table_cached(str(p.resolve()), p.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_table_cached(path: str, _mtime: int) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PriceTableError(f"{path}: not valid JSON: {e}") from e
    errors = validate_table(data)
    if errors:
        raise PriceTableError(f"{path}: " + "; ".join(errors))
    return data


def shapes(table: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Instance shapes (gpus, gpu_model, vcpus, memory_gib, ...) from the table."""
    return dict((table or load_table())["shapes"])


def table_price(instance_type: str, region: str, capacity: str, table: dict[str, Any] | None = None) -> Price:
    """The offline table's price; ``usd_per_hour=None`` with a note where it has none."""
    _check_capacity(capacity)
    t = table or load_table()
    sources = t["sources"]
    entry = ((t["prices"].get(instance_type) or {}).get(region) or {}).get(capacity)
    base = {"instance_type": instance_type, "region": region, "capacity": capacity}
    if entry is None:
        return Price(
            None,
            source="lmpspot offline price table",
            as_of=t.get("as_of", ""),
            note=f"no {capacity} price for {instance_type} in {region} in the offline table",
            **base,
        )
    if entry.get("usd_per_hour") is None:
        src = sources.get(entry.get("source"), {})
        return Price(
            None,
            source=src.get("url", "lmpspot offline price table"),
            as_of=entry.get("as_of", t.get("as_of", "")),
            note=entry["reason"],
            **base,
        )
    src = sources[entry["source"]]
    return Price(
        float(entry["usd_per_hour"]),
        source=src["url"],
        as_of=entry["as_of"],
        note=entry.get("note", ""),
        **base,
    )


# --------------------------------------------------------------------------- online


def is_real_aws_endpoint(url: str | None) -> bool:
    """True for AWS's own endpoints; False for a local AWS or any other stand-in."""
    host = urlparse(url or "").hostname or ""
    return bool(_REAL_AWS_HOST.search(host))


def _client(service: str, region: str, session=None, endpoint_url=None, verify=None):
    import boto3  # noqa: PLC0415 -- only the online path needs boto3

    sess = session or boto3.session.Session()
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if verify is not None:
        kwargs["verify"] = verify
    return sess.client(service, **kwargs)


def aws_spot_price(
    instance_type: str, region: str, *, session=None, endpoint_url=None, verify=None, now=None
) -> Price:
    """The current Linux spot price in ``region``: the median over its AZs' latest prices."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    client = _client("ec2", region, session, endpoint_url, verify)
    endpoint = client.meta.endpoint_url
    synthetic = not is_real_aws_endpoint(endpoint)
    source = f"ec2:DescribeSpotPriceHistory {region} via {endpoint}"
    base = {"instance_type": instance_type, "region": region, "capacity": "spot", "synthetic": synthetic}
    now = now or _dt.datetime.now(_dt.timezone.utc)
    latest: dict[str, tuple[_dt.datetime, float]] = {}
    try:
        pages = client.get_paginator("describe_spot_price_history").paginate(
            InstanceTypes=[instance_type],
            ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
            StartTime=now,
        )
        for page in pages:
            for rec in page.get("SpotPriceHistory", []):
                if rec.get("InstanceType") != instance_type:
                    continue
                az, ts, usd = rec["AvailabilityZone"], rec["Timestamp"], float(rec["SpotPrice"])
                if isinstance(ts, str):
                    ts = _dt.datetime.fromisoformat(ts.replace("Z", "+00:00")[:26])
                if az not in latest or ts > latest[az][0]:
                    latest[az] = (ts, usd)
    except (BotoCoreError, ClientError) as e:
        return Price(
            None, source=source, as_of=now.date().isoformat(), note=f"spot price lookup failed: {e}", **base
        )
    if not latest:
        return Price(
            None,
            source=source,
            as_of=now.date().isoformat(),
            note=f"no spot price history for {instance_type} in {region} (not offered there?)",
            **base,
        )
    by_az = {az: usd for az, (_, usd) in sorted(latest.items())}
    as_of = max(ts for ts, _ in latest.values()).date().isoformat()
    note = f"median of {len(by_az)} AZs (min {min(by_az.values()):g}, max {max(by_az.values()):g})"
    if synthetic:
        note = f"{SYNTHETIC_LABEL}: {note}"
    return Price(
        statistics.median(by_az.values()),
        source=source,
        as_of=as_of,
        note=note,
        detail={"by_az": by_az},
        **base,
    )


def aws_on_demand_price(
    instance_type: str, region: str, *, session=None, endpoint_url=None, verify=None, now=None
) -> Price:
    """The Linux, shared-tenancy on-demand price from the Price List API (us-east-1)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    client = _client("pricing", PRICING_API_REGION, session, endpoint_url, verify)
    endpoint = client.meta.endpoint_url
    synthetic = not is_real_aws_endpoint(endpoint)
    source = f"pricing:GetProducts AmazonEC2 via {endpoint}"
    base = {"instance_type": instance_type, "region": region, "capacity": "on-demand", "synthetic": synthetic}
    today = (now or _dt.datetime.now(_dt.timezone.utc)).date().isoformat()
    filters = [{"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type}]
    filters.append({"Type": "TERM_MATCH", "Field": "regionCode", "Value": region})
    filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in _PRICING_FILTERS.items()]
    usd: list[float] = []
    try:
        for page in client.get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=filters):
            for raw in page.get("PriceList", []):
                usd.extend(_on_demand_usd(json.loads(raw) if isinstance(raw, str) else raw))
    except (BotoCoreError, ClientError) as e:
        return Price(None, source=source, as_of=today, note=f"on-demand price lookup failed: {e}", **base)
    if not usd:
        return Price(None, source=source, as_of=today, note="the Price List API returned no product", **base)
    note = f"{SYNTHETIC_LABEL}" if synthetic else ""
    return Price(max(usd), source=source, as_of=today, note=note, **base)


def _on_demand_usd(product: dict[str, Any]) -> list[float]:
    out = []
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            if dim.get("unit") in ("Hrs", "Hours"):
                value = float((dim.get("pricePerUnit") or {}).get("USD", "0") or 0)
                if value > 0:
                    out.append(value)
    return out


# --------------------------------------------------------------------------- API


def _check_capacity(capacity: str) -> None:
    if capacity not in CAPACITIES:
        raise ValueError(f"capacity must be one of {', '.join(CAPACITIES)}, got {capacity!r}")


def price_per_hour(
    instance_type: str,
    region: str,
    capacity: str,
    *,
    mode: str = "table",
    table: dict[str, Any] | None = None,
    session=None,
    endpoint_url: str | None = None,
    verify: Any = None,
) -> Price:
    """The hourly price of ``instance_type`` in ``region`` for ``capacity`` (spot|on-demand).

    ``mode="table"`` (the default) reads the dated offline table; ``mode="aws"`` asks the
    AWS APIs (credentials and endpoint from the environment / ``session``, or
    ``endpoint_url``).  A price the AWS path read from a local AWS is ``synthetic``.
    """
    _check_capacity(capacity)
    if mode == "table":
        return table_price(instance_type, region, capacity, table)
    if mode != "aws":
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    fn = aws_spot_price if capacity == "spot" else aws_on_demand_price
    return fn(instance_type, region, session=session, endpoint_url=endpoint_url, verify=verify)
