"""A job's cost ledger: each attempt mapped to its instance type, capacity type and hours.

``cost_ledger(attempts, region)`` takes attempt records shaped like the local executor's
``attempts.json`` entries, plus ``instance_type`` and ``capacity`` (``spot``,
``on-demand`` or ``local``) that :mod:`lmpspot.status` resolves, and prices each attempt
with :func:`lmpspot.prices.price_per_hour` (or the ``price_fn`` given):

    cost of an attempt = hours (stopped_at - started_at; now for a running attempt)
                         x the hourly price of its instance type and capacity type

The cost so far is the sum over the attempts that have a price.  An attempt whose instance
type is unknown (EC2 no longer describes a terminated instance) or has no price is listed
with ``cost_usd: None`` and counted in ``unpriced``; the total then says it is partial.
In local mode the attempts ran in podman on this machine, not on EC2: they are recorded
as instance ``local``, capacity ``local``, and cost nothing to price -- the ledger says
so rather than pretending a GPU instance ran.

What the hours do not include: the instance's boot and image pull before the attempt
started, and time an instance sat idle in the compute environment after it; with several
jobs packed on one multi-GPU instance each job is charged the whole instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from lmpspot.timefmt import utc_iso

LOCAL = "local"

PriceFn = Callable[[str, str, str], Any]  # (instance_type, region, capacity) -> Price-like


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an ISO 8601 string (``Z`` allowed), epoch ms/s, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return utc_iso(t)


@dataclass
class LedgerRow:
    attempt: int
    started_at: str | None
    stopped_at: str | None  # None: still running
    hours: float | None
    instance_type: str | None
    capacity: str | None
    instance_id: str | None
    usd_per_hour: float | None
    cost_usd: float | None
    price_source: str | None
    synthetic: bool
    ended: str


def _default_price_fn() -> PriceFn:
    from lmpspot.prices import price_per_hour  # noqa: PLC0415 (only when pricing)

    return price_per_hour


def attempt_ended(a: Mapping[str, Any]) -> str:
    """How an attempt ended, in words: spot reclaim, checkpointed on notice, exit N, running."""
    if not a.get("stopped_at"):
        return "running"
    reason = str(a.get("status_reason") or "")
    code = a.get("exit_code")
    if reason.startswith("Host EC2"):
        return "spot reclaim"
    if code == 75:
        return "checkpointed on a notice/SIGTERM (exit 75)"
    if code == 0:
        return "finished (exit 0)"
    if code is not None:
        return f"exit {code}" + (f" ({reason})" if reason and not reason.startswith("Essential") else "")
    return reason or "stopped"


def is_interruption(a: Mapping[str, Any]) -> bool:
    """A spot interruption: reclaimed by EC2, or checkpointed and exited 75 on a notice."""
    return str(a.get("status_reason") or "").startswith("Host EC2") or a.get("exit_code") == 75


def cost_ledger(
    attempts: Iterable[Mapping[str, Any]],
    region: str,
    *,
    price_fn: PriceFn | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The ledger (see the module doc) as a JSON-ready dict."""
    now = time.time() if now is None else now
    lookup = _cached_prices(region, price_fn)
    rows: list[LedgerRow] = []
    for a in attempts:
        rows.append(_ledger_row(a, len(rows) + 1, now, lookup))
    priced = [r for r in rows if r.cost_usd is not None]
    unpriced = [r for r in rows if r.cost_usd is None and r.capacity != LOCAL]
    total = sum(r.cost_usd for r in priced) if priced else None
    synthetic = any(r.synthetic for r in priced)
    label, note = _total_label(rows, total, len(unpriced), synthetic)
    return {
        "region": region,
        "attempts": [asdict(r) for r in rows],
        "hours": sum(r.hours for r in rows if r.hours is not None),
        "total_usd": total,
        "total_label": label,
        "unpriced": len(unpriced),
        "synthetic": synthetic,
        "note": note,
    }


def _cached_prices(region: str, price_fn: PriceFn | None) -> Callable[[str, str], Any]:
    """(instance type, capacity) -> the price in ``region`` (or the error), each looked up once."""
    prices: dict[tuple[str, str], Any] = {}

    def lookup(itype: str, cap: str) -> Any:
        key = (itype, cap)
        if key not in prices:
            fn = price_fn or _default_price_fn()
            try:
                prices[key] = fn(itype, region, cap)
            except (ValueError, OSError) as exc:
                prices[key] = exc
        return prices[key]

    return lookup


def _ledger_row(
    a: Mapping[str, Any], default_attempt: int, now: float, lookup: Callable[[str, str], Any]
) -> LedgerRow:
    """One attempt's row: its hours (until ``now`` while running), price and cost."""
    start = parse_time(a.get("started_at"))
    stop = parse_time(a.get("stopped_at"))
    hours = None if start is None else max(0.0, ((stop if stop is not None else now) - start) / 3600.0)
    itype = a.get("instance_type") or None
    cap = a.get("capacity") or None
    usd, source, synthetic = _price_columns(itype, cap, lookup)
    cost = hours * usd if usd is not None and hours is not None else None
    return LedgerRow(
        attempt=int(a.get("attempt", default_attempt)),
        started_at=iso(start),
        stopped_at=iso(stop),
        hours=hours,
        instance_type=itype,
        capacity=cap,
        instance_id=a.get("instance_id"),
        usd_per_hour=usd,
        cost_usd=cost,
        price_source=source,
        synthetic=synthetic,
        ended=attempt_ended({**a, "stopped_at": a.get("stopped_at")}),
    )


def _price_columns(
    itype: str | None, cap: str | None, lookup: Callable[[str, str], Any]
) -> tuple[float | None, str, bool]:
    """(USD per hour or None, where the price comes from or why there is none, synthetic)."""
    if cap == LOCAL:
        return None, "local mode: ran in podman on this machine, no EC2 instance", False
    if not (itype and cap in ("spot", "on-demand")):
        return None, "instance type or capacity unknown", False
    p = lookup(itype, cap)
    if isinstance(p, Exception):
        return None, f"no price: {p}", False
    usd = getattr(p, "usd_per_hour", None)
    synthetic = bool(getattr(p, "synthetic", False))
    label = getattr(p, "label", None) or f"{getattr(p, 'source', '?')} (as of {getattr(p, 'as_of', '?')})"
    return usd, (label if usd is not None else f"no price: {getattr(p, 'note', '') or label}"), synthetic


def _total_label(
    rows: list[LedgerRow], total: float | None, unpriced: int, synthetic: bool
) -> tuple[str, str]:
    """The total as people read it, and a note on what it leaves out."""
    if rows and all(r.capacity == LOCAL for r in rows):
        return (
            "n/a (local)",
            "Local mode: the attempts ran in podman on this machine; no EC2 instance, no price.",
        )
    if total is None:
        return "unknown", f"{unpriced} attempt(s) without an instance type or price."
    label = f"${total:.2f}"
    note = ""
    if unpriced:
        label += f" + {unpriced} unpriced attempt(s)"
        note = "Partial: some attempts have no instance type or price."
    if synthetic:
        label += " SYNTHETIC"
        note = (note + " Prices from the local AWS are synthetic, not real.").strip()
    return label, note
