"""``Ref::`` parameter substitution in a job's command.

AWS Batch ("Job definition parameters"): the job definition's ``parameters`` are defaults and
SubmitJob's ``parameters`` override them key by key.  A placeholder ``Ref::<name>`` in the command
is replaced by the merged value; a placeholder with no value makes SubmitJob fail with
``Unable to substitute value. No parameter found for reference <name>``.

Choice on an open point: AWS documents placeholders only as whole command elements; like moto we
also substitute a placeholder inside a longer element (``--in=Ref::input``).  A placeholder name is
the longest run of letters, digits, ``_`` and ``-`` after ``Ref::``.  ``container.command`` in
DescribeJobs and events shows the substituted command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from batchbridge.errors import ClientException

_REF = re.compile(r"Ref::([A-Za-z0-9_\-]+)")


def merge_parameters(
    defaults: Mapping[str, str] | None, submitted: Mapping[str, str] | None
) -> dict[str, str]:
    """Definition defaults overridden key by key by the submit-time parameters."""
    merged = {str(k): str(v) for k, v in (defaults or {}).items()}
    merged.update({str(k): str(v) for k, v in (submitted or {}).items()})
    return merged


def references(command: Iterable[str]) -> list[str]:
    """Every parameter name referenced in ``command``, in order of appearance."""
    names: list[str] = []
    for element in command:
        names.extend(_REF.findall(element))
    return names


def substitute(command: Iterable[str], parameters: Mapping[str, str]) -> list[str]:
    """``command`` with each ``Ref::name`` replaced; :class:`ClientException` for a missing one."""
    out: list[str] = []
    for element in command:
        for name in _REF.findall(element):
            if name not in parameters:
                raise ClientException(f"Unable to substitute value. No parameter found for reference {name}")
        out.append(_REF.sub(lambda m: parameters[m.group(1)], element))
    return out
