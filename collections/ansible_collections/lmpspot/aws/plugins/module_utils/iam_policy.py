# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one "everything on everything" check for IAM policy documents.

Used by the identity role's guard (filter ``lmpspot.aws.iam_star_statements``) and by the
account audit (``iam.star_policy``), so both refuse the same things.  An ``Allow``
statement is too broad when it covers every resource (``Resource`` containing ``*``, or
any ``NotResource``) and

* ``Action`` contains ``*`` or ``*:*`` (also among other actions), or
* ``Action`` contains a whole service (``s3:*``, ``iam:*``, ``ec2:*Instances*`` is not: only
  a bare ``<service>:*``), or
* it uses ``NotAction`` (everything except a list is almost everything).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_SERVICE_STAR = re.compile(r"^[A-Za-z0-9-]+:\*$")


class PolicyDocumentError(ValueError):
    """The document is not an IAM policy document (JSON object with Statement)."""


def _listify(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statements(document: Any) -> list:
    if document is None or document == "":
        return []
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as e:
            raise PolicyDocumentError(f"not JSON: {e}") from e
    if not isinstance(document, Mapping):
        raise PolicyDocumentError(f"a policy document is a JSON object, got {type(document).__name__}")
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, Mapping) for s in statements):
        raise PolicyDocumentError("Statement must be an object or a list of objects")
    return statements


def star_reason(statement: Mapping[str, Any]) -> str | None:
    """Why one statement allows (nearly) everything on every resource; ``None`` if it does not."""
    if statement.get("Effect") != "Allow":
        return None
    every_resource = "*" in _listify(statement.get("Resource")) or "NotResource" in statement
    if not every_resource:
        return None
    if "NotAction" in statement:
        return "NotAction on every resource allows every action not listed"
    for action in _listify(statement.get("Action")):
        if not isinstance(action, str):
            continue
        if action in ("*", "*:*"):
            return "every action (*) on every resource (*)"
        if _SERVICE_STAR.match(action):
            return f"every {action.split(':')[0]} action ({action}) on every resource (*)"
    return None


def star_statements(document: Any) -> list[dict]:
    """The ``Allow`` statements of a policy document that :func:`star_reason` flags.

    ``document``: a dict or its JSON text (``None``/empty: no statements).  Raises
    :class:`PolicyDocumentError` for anything else.
    """
    return [dict(st) for st in _statements(document) if star_reason(st)]
