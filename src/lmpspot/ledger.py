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
    rows: list[LedgerRow] = []
    prices: dict[tuple[str, str], Any] = {}
    for a in attempts:
        start = parse_time(a.get("started_at"))
        stop = parse_time(a.get("stopped_at"))
        hours = None if start is None else max(0.0, ((stop if stop is not None else now) - start) / 3600.0)
        itype = a.get("instance_type") or None
        cap = a.get("capacity") or None
        usd = cost = source = None
        synthetic = False
        if cap == LOCAL:
            source = "local mode: ran in podman on this machine, no EC2 instance"
        elif itype and cap in ("spot", "on-demand"):
            key = (itype, cap)
            if key not in prices:
                fn = price_fn or _default_price_fn()
                try:
                    prices[key] = fn(itype, region, cap)
                except (ValueError, OSError) as exc:
                    prices[key] = exc
            p = prices[key]
            if isinstance(p, Exception):
                source = f"no price: {p}"
            else:
                usd = getattr(p, "usd_per_hour", None)
                synthetic = bool(getattr(p, "synthetic", False))
                label = (
                    getattr(p, "label", None)
                    or f"{getattr(p, 'source', '?')} (as of {getattr(p, 'as_of', '?')})"
                )
                source = label if usd is not None else f"no price: {getattr(p, 'note', '') or label}"
        else:
            source = "instance type or capacity unknown"
        if usd is not None and hours is not None:
            cost = hours * usd
        rows.append(
            LedgerRow(
                attempt=int(a.get("attempt", len(rows) + 1)),
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
        )
    priced = [r for r in rows if r.cost_usd is not None]
    local = [r for r in rows if r.capacity == LOCAL]
    unpriced = [r for r in rows if r.cost_usd is None and r.capacity != LOCAL]
    total = sum(r.cost_usd for r in priced) if priced else None
    synthetic = any(r.synthetic for r in priced)
    if rows and len(local) == len(rows):
        label, note = (
            "n/a (local)",
            "Local mode: the attempts ran in podman on this machine; no EC2 instance, no price.",
        )
    elif total is None:
        label = "unknown"
        note = f"{len(unpriced)} attempt(s) without an instance type or price."
    else:
        label = f"${total:.2f}"
        note = ""
        if unpriced:
            label += f" + {len(unpriced)} unpriced attempt(s)"
            note = "Partial: some attempts have no instance type or price."
        if synthetic:
            label += " SYNTHETIC"
            note = (note + " Prices from the local AWS are synthetic, not real.").strip()
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
