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


def iam_star_statements(document) -> list:
    """Flagged statements of ``document``, each with ``Reason``; raises AnsibleFilterError on bad input."""
    try:
        return [{**st, "Reason": star_reason(st)} for st in star_statements(document)]
    except PolicyDocumentError as e:
        raise AnsibleFilterError(f"iam_star_statements: {e}") from e


class FilterModule:
    def filters(self):
        return {"iam_star_statements": iam_star_statements}
