# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cost planner filters: rank instance types and regions by cost per simulation job."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

try:
    from lmpspot.planner import PlanError, plan, to_markdown, to_text
    from lmpspot.prices import Price, PriceTableError
except ImportError:  # pragma: no cover - reported when a filter is used
    plan = None


def _need_lmpspot():
    if plan is None:
        raise AnsibleFilterError("the lmpspot Python package is not importable: run scripts/bootstrap.sh")


def _price_fn(prices):
    if not isinstance(prices, list):
        raise AnsibleFilterError("cost_plan needs the prices list of lmpspot.aws.instance_price_info")
    by_key = {}
    for p in prices:
        if not isinstance(p, dict) or not {"instance_type", "region", "capacity"} <= set(p):
            raise AnsibleFilterError(
                f"cost_plan: each price needs instance_type, region, capacity; got {p!r}"
            )
        by_key[(p["instance_type"], p["region"], p["capacity"])] = p

    def fn(itype, region, capacity):
        p = by_key.get((itype, region, capacity))
        if p is None:
            return Price(
                None,
                source="not looked up",
                as_of="",
                note="no price was looked up for this option",
                instance_type=itype,
                region=region,
                capacity=capacity,
            )
        return Price(
            p.get("usd_per_hour"),
            source=str(p.get("source", "")),
            as_of=str(p.get("as_of", "")),
            synthetic=bool(p.get("synthetic")),
            instance_type=itype,
            region=region,
            capacity=capacity,
            note=str(p.get("note") or ""),
        )

    return fn


def cost_plan(settings, prices):
    """The ranked plan (see lmpspot.planner.plan)."""
    _need_lmpspot()
    if not isinstance(settings, dict):
        raise AnsibleFilterError(
            f"cost_plan input must be a mapping of planner settings, got {type(settings).__name__}"
        )
    try:
        return plan(dict(settings), price_fn=_price_fn(prices))
    except (PlanError, PriceTableError) as e:
        raise AnsibleFilterError(str(e)) from e


def cost_plan_markdown(result):
    """The plan as a Markdown report."""
    _need_lmpspot()
    if not isinstance(result, dict) or "options" not in result:
        raise AnsibleFilterError("cost_plan_markdown needs the result of lmpspot.aws.cost_plan")
    return to_markdown(result)


def cost_plan_lines(result, limit=None):
    """Short ranked lines (at most ``limit`` options) plus the seed comparison."""
    _need_lmpspot()
    if not isinstance(result, dict) or "options" not in result:
        raise AnsibleFilterError("cost_plan_lines needs the result of lmpspot.aws.cost_plan")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise AnsibleFilterError(f"cost_plan_lines limit must be a positive integer, got {limit!r}")
    return to_text(result, limit)


class FilterModule:
    def filters(self):
        return {
            "cost_plan": cost_plan,
            "cost_plan_markdown": cost_plan_markdown,
            "cost_plan_lines": cost_plan_lines,
        }
