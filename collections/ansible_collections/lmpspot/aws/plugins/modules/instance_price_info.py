#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: instance_price_info
short_description: Hourly spot and on-demand prices of EC2 instance types, with their source
description:
  - Returns the Linux spot and on-demand price per hour of each instance type in each region,
    from lmpspot's dated offline price table (O(mode=table)) or from the AWS APIs
    (O(mode=aws)) -- C(pricing:GetProducts) in us-east-1 for on-demand prices,
    C(ec2:DescribeSpotPriceHistory) in each region for spot prices (the median of the
    current price over the region's Availability Zones).
  - Every price names its source and date. A price read from an endpoint that is not
    C(amazonaws.com) (the local AWS) is returned with RV(prices[].synthetic=true) and a
    label saying it is not a real price.
  - A price that cannot be found is returned with RV(prices[].usd_per_hour=null) and a note
    saying why; that is not an error.
  - Read-only; runs the same way in check mode.
version_added: 0.1.0
options:
  instance_types:
    description: Instance type names, e.g. V(p4d.24xlarge).
    type: list
    elements: str
    required: true
  regions:
    description: Region codes, e.g. V(us-east-1).
    type: list
    elements: str
    required: true
  mode:
    description:
      - V(table) reads the offline table shipped with lmpspot; V(aws) asks the AWS APIs.
    type: str
    choices: [table, aws]
    default: table
  price_table:
    description: Path of another price table (same format as C(lmpspot/data/prices.json)).
    type: path
author: lmpspot developers
notes:
  - With O(mode=aws) needs the IAM actions C(pricing:GetProducts) and C(ec2:DescribeSpotPriceHistory).
  - AWS credentials, endpoint (C(AWS_ENDPOINT_URL)) and CA bundle come from the environment.
"""

EXAMPLES = r"""
- name: Prices of the planned instance types from the offline table
  lmpspot.aws.instance_price_info:
    instance_types: [p4d.24xlarge, g6e.xlarge]
    regions: [us-east-1, us-west-2]
  register: plan_prices

- name: Current spot and on-demand prices from AWS
  lmpspot.aws.instance_price_info:
    instance_types: [p4d.24xlarge]
    regions: [us-east-1]
    mode: aws
  register: live_prices
"""

RETURN = r"""
prices:
  description: One entry per instance type, region and capacity (spot, on-demand).
  returned: always
  type: list
  elements: dict
  contains:
    instance_type: {description: The instance type., type: str, sample: p4d.24xlarge}
    region: {description: The region., type: str, sample: us-east-1}
    capacity: {description: "spot or on-demand.", type: str, sample: spot}
    usd_per_hour:
      description: USD per instance-hour, or null when no price was found.
      type: float
      sample: 21.957642
    source: {description: Where the number comes from (URL or API and endpoint)., type: str}
    as_of: {description: "Date the price is valid for (YYYY-MM-DD).", type: str, sample: "2026-11-09"}
    synthetic:
      description: True when the price was read from a local AWS; it is not a real price.
      type: bool
      sample: false
    label: {description: Source and date, or the synthetic warning, to print next to the number., type: str}
    note: {description: Why a price is missing, or what it summarises., type: str}
synthetic:
  description: True when any returned price is synthetic.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

try:
    from lmpspot.prices import PriceTableError, load_table, price_per_hour
except ImportError:  # reported in main() with the fix
    price_per_hour = None


def main():
    module = AnsibleModule(
        argument_spec={
            "instance_types": {"type": "list", "elements": "str", "required": True},
            "regions": {"type": "list", "elements": "str", "required": True},
            "mode": {"type": "str", "choices": ["table", "aws"], "default": "table"},
            "price_table": {"type": "path"},
        },
        supports_check_mode=True,
    )
    if price_per_hour is None:
        module.fail_json(
            msg="the lmpspot Python package is not importable: run scripts/bootstrap.sh (pip install -e .)"
        )
    try:
        table = load_table(module.params["price_table"])
    except (OSError, PriceTableError) as e:
        module.fail_json(msg=f"price table: {e}")
    prices = []
    for region in dict.fromkeys(module.params["regions"]):
        for itype in dict.fromkeys(module.params["instance_types"]):
            for capacity in ("spot", "on-demand"):
                p = price_per_hour(itype, region, capacity, mode=module.params["mode"], table=table)
                prices.append(p.as_dict())
    module.exit_json(changed=False, prices=prices, synthetic=any(p["synthetic"] for p in prices))


if __name__ == "__main__":
    main()
