# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the lmpspot.aws modules that manage tags (option ``tags``/``purge_tags``) diff them.

One rule for every such module: ``tags`` left out (None) means the tags are not
managed; otherwise each listed tag whose value differs is set and, with
``purge_tags``, every tag not listed is removed. The callers pass tags as
key -> value dicts; those whose API takes strings only pass them through
``str_values`` first.
"""

from __future__ import annotations

# The tag keys lmpspot finds its own resources by: set on every resource, never taken from
# lmpspot_extra_tags (the naming filter and the preflight filter both read this).
RESERVED_TAGS = ("Project", "Environment", "ManagedBy")


def str_values(tags):
    """``tags`` with every value as text (None stays None: tags not managed)."""
    return None if tags is None else {k: str(v) for k, v in tags.items()}


def tag_changes(current, desired, purge):
    """(tags to set, sorted keys to remove); desired None means tags are not managed."""
    current = current or {}
    if desired is None:
        return {}, []
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    to_remove = sorted(k for k in current if k not in desired) if purge else []
    return to_set, to_remove


def tags_after(current, desired, purge):
    """The tags the resource carries once ``desired`` (not None) is applied."""
    tags = {} if purge else dict(current or {})
    tags.update(desired)
    return tags
