# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule options shared by the lmpspot.aws EventBridge modules (one rule, one target).

A module that extends C(lmpspot.aws.eventbridge_rule) documents only its target's options.
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  name:
    description: Name of the rule.
    type: str
    required: true
  state:
    description: Whether the rule should exist.
    type: str
    choices: [present, absent]
    default: present
  event_bus_name:
    description: Event bus of the rule.
    type: str
    default: default
  description:
    description: Description of the rule.
    type: str
    default: ""
  event_pattern:
    description: Event pattern (a mapping, or its JSON text). Required when O(state=present).
    type: json
  enabled:
    description: Whether the rule is C(ENABLED).
    type: bool
    default: true
"""
