# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared logic of the modules that keep one JSON document in AWS (a resource policy,
a bucket policy, a dashboard body): compare as JSON values, then put or delete the difference.
"""

from __future__ import annotations

import contextlib
import json

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


def wanted(module, option):
    """The JSON value of ``option`` when state=present, None when state=absent."""
    return json.loads(module.params[option]) if module.params["state"] == "present" else None


def sync(module, want, read, put, delete, fail_msg):
    """Make the stored document equal ``want`` (None: no document).

    ``read()`` returns the stored document (None when there is none); ``put(want)`` stores it;
    ``delete()`` removes it. Nothing is written in check mode.
    Returns ``(result, have)``: result holds ``changed`` (and ``diff`` in diff mode), have is the
    document as it was read.
    """
    result = {}
    try:
        have = read()
        result["changed"] = have != want
        if result["changed"] and not module.check_mode:
            if want is None:
                delete()
            else:
                put(want)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=fail_msg)
    if module._diff:
        result["diff"] = {"before": have or {}, "after": want or {}}
    return result, have
