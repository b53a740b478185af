# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The O(tags)/O(purge_tags) options of the lmpspot.aws modules that tag the resource they manage.

A module that extends C(lmpspot.aws.tags) must not document its own C(tags) or
C(purge_tags): an option a module documents replaces the fragment's whole entry.
Resource-specific remarks on tagging go into the module's C(notes).
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  tags:
    description:
      - Tags of the resource the module manages, as a mapping of key to value.
      - Left out, the resource's tags are left alone.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description:
      - Remove tags not listed in O(tags).
      - Without O(tags), no tag is removed.
    type: bool
    default: true
"""
