# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM policy checks shared with the account audit.  Pure functions."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.module_utils.iam_policy import (
    PolicyDocumentError,
    star_reason,
    star_statements,
)

DOCUMENTATION_IAM_STAR_STATEMENTS = r"""
name: iam_star_statements
short_description: The Allow statements of a policy that grant (nearly) everything on every resource
description:
  - Flags Allow statements on Resource "*" (or with NotResource) whose Action contains "*", "*:*"
    or a whole service ("s3:*"), or that use NotAction. The account audit uses the same check.
options:
  _input: {description: An IAM policy document (dict or JSON text)., type: raw, required: true}
"""

EXAMPLES = r"""
bad: "{{ policy | lmpspot.aws.iam_star_statements }}"
# Action ["s3:GetObject", "*"] on Resource "*" -> that statement, with a Reason key
"""

RETURN = r"""
_value: {description: The flagged statements, each with a Reason key added., type: list, elements: dict}
"""


def iam_star_statements(document) -> list:
    """Flagged statements of ``document``, each with ``Reason``; raises AnsibleFilterError on bad input."""
    try:
        return [{**st, "Reason": star_reason(st)} for st in star_statements(document)]
    except PolicyDocumentError as e:
        raise AnsibleFilterError(f"iam_star_statements: {e}") from e


class FilterModule:
    def filters(self):
        return {"iam_star_statements": iam_star_statements}
