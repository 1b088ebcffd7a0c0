"""Warnings about patterns that are valid but probably not what their author meant.

The checks concern AWS Batch's ``Batch Job State Change`` events (AWS Batch user guide, "EventBridge
events" and the array-job example in the project's seed scenario):

* ``batch-array-fanout``: a rule on terminal statuses (SUCCEEDED/FAILED, or no status filter) fires
  for every child of an array job *and* for the parent.  Parent events carry
  ``arrayProperties.size`` and no ``container.containerInstanceArn``; child events carry
  ``arrayProperties.index``.  No warning when the pattern already tells parents from children;
* ``numeric-on-string``: Batch sends ids, names, ARNs and statuses as strings, so ``numeric`` on them
  never holds; ``string-on-number``: timestamps, sizes, indexes and exit codes are numbers, so a
  string value or a string operator on them never holds;
* ``unknown-status``: a status value Batch never sends (valid: SUBMITTED PENDING RUNNABLE STARTING
  RUNNING SUCCEEDED FAILED);
* ``wrong-case-source`` / ``wrong-case-detail-type``: ``aws.Batch``, ``Batch job state change``;
* ``bare-name``: ``jobQueue``/``jobDefinition`` given as a bare name where events carry ARNs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchbridge.patterns import operators as ops
from batchbridge.patterns.model import Branch, CompiledPattern, Field
from batchbridge.patterns.parse import compile_pattern

BATCH_SOURCE = "aws.batch"
BATCH_DETAIL_TYPE = "Batch Job State Change"
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
STRING_FIELDS = frozenset(
    "detail." + name
    for name in (
        "jobId",
        "jobName",
        "jobArn",
        "jobQueue",
        "jobDefinition",
        "status",
        "statusReason",
        "shareIdentifier",
        "platformCapabilities",
        "container.image",
        "container.logStreamName",
        "container.containerInstanceArn",
        "container.taskArn",
        "container.jobRoleArn",
        "container.executionRoleArn",
        "dependsOn.jobId",
        "dependsOn.type",
    )
) | frozenset({"source", "detail-type", "account", "region", "id", "time", "version", "resources"})
NUMBER_FIELDS = frozenset(
    "detail." + name
    for name in (
        "createdAt",
        "startedAt",
        "stoppedAt",
        "arrayProperties.size",
        "arrayProperties.index",
        "container.exitCode",
        "retryStrategy.attempts",
        "timeout.attemptDurationSeconds",
        "attempts.startedAt",
        "attempts.stoppedAt",
        "attempts.container.exitCode",
    )
)
_SPLITTING_PATHS = (
    "detail.arrayProperties.",
    "detail.container.containerInstanceArn",
    "detail.container.taskArn",
    "detail.container.exitCode",
    "detail.container.logStreamName",
    "detail.attempts",
)
_STRING_OPS = (ops.Prefix, ops.Suffix, ops.EqualsIgnoreCase, ops.Wildcard, ops.Cidr)


@dataclass(frozen=True, slots=True)
class LintWarning:
    """A probable mistake: a stable ``code``, a ``message`` saying what to do, and the ``path``."""

    code: str
    message: str
    path: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}


def _field(branch: Branch, path: str) -> Field | None:
    for fld in branch:
        if fld.path == path:
            return fld
    return None


def _admits(fld: Field | None, value: Any) -> bool:
    return fld is None or fld.test(value)


def _is_batch(branch: Branch) -> bool:
    source = _field(branch, "source")
    detail_type = _field(branch, "detail-type")
    if source is None and detail_type is None:
        return False
    return _admits(source, BATCH_SOURCE) and _admits(detail_type, BATCH_DETAIL_TYPE)


def _fanout(branch: Branch) -> LintWarning | None:
    status = _field(branch, "detail.status")
    if status is not None and not (status.test("SUCCEEDED") or status.test("FAILED")):
        return None
    if any(fld.path.startswith(_SPLITTING_PATHS) for fld in branch):
        return None
    return LintWarning(
        "batch-array-fanout",
        "this rule matches terminal Batch Job State Change events, which AWS Batch sends once for every "
        "child of an array job and once more for the parent: for an array of N jobs it fires N + 1 times. "
        'To fire only for the parent add "arrayProperties": {"size": [{"exists": true}]} to "detail" '
        '(safe for every array); "container": {"containerInstanceArn": [{"exists": false}]} also works '
        "on EC2 but matches Fargate children and children that never got a container instance too.",
        "detail",
    )


def _exact_strings(fld: Field) -> list[str]:
    return [c.value for c in fld.conditions if isinstance(c, ops.Exact) and isinstance(c.value, str)]


def _field_warnings(fld: Field) -> list[LintWarning]:
    out: list[LintWarning] = []
    if fld.path in STRING_FIELDS and any(isinstance(c, ops.Numeric) for c in fld.conditions):
        out.append(
            LintWarning(
                "numeric-on-string",
                f"{fld.path} is always a string in Batch events, so a numeric condition on it never holds",
                fld.path,
            )
        )
    if fld.path in NUMBER_FIELDS and any(
        isinstance(c, _STRING_OPS) or (isinstance(c, ops.Exact) and isinstance(c.value, str))
        for c in fld.conditions
    ):
        out.append(
            LintWarning(
                "string-on-number",
                f"{fld.path} is always a number in Batch events, so string values or string operators "
                "on it never hold; use numbers or a numeric condition",
                fld.path,
            )
        )
    if fld.path == "detail.status":
        for value in _exact_strings(fld):
            if value not in STATUSES:
                hint = f' (did you mean "{value.upper()}"?)' if value.upper() in STATUSES else ""
                out.append(
                    LintWarning(
                        "unknown-status",
                        f'"{value}" is not a status AWS Batch sends{hint}; valid: {" ".join(STATUSES)}',
                        fld.path,
                    )
                )
    if fld.path in ("detail.jobQueue", "detail.jobDefinition"):
        kind = "job-queue" if fld.path.endswith("jobQueue") else "job-definition"
        for value in _exact_strings(fld):
            if not value.startswith("arn:"):
                out.append(
                    LintWarning(
                        "bare-name",
                        f"{fld.path} is an ARN in Batch events "
                        f"(arn:aws:batch:<region>:<account>:{kind}/...), "
                        f'so "{value}" never matches; use the full ARN or a prefix/wildcard on it',
                        fld.path,
                    )
                )
    return out


def _case_warnings(branch: Branch) -> list[LintWarning]:
    out: list[LintWarning] = []
    for path, right, code in (
        ("source", BATCH_SOURCE, "wrong-case-source"),
        ("detail-type", BATCH_DETAIL_TYPE, "wrong-case-detail-type"),
    ):
        fld = _field(branch, path)
        if fld is None:
            continue
        for value in _exact_strings(fld):
            if value != right and value.lower() == right.lower() and not fld.test(right):
                out.append(
                    LintWarning(
                        code, f'"{value}" never matches: values are case-sensitive, AWS sends "{right}"', path
                    )
                )
    return out


def lint(pattern: Mapping[str, Any] | str | bytes | CompiledPattern) -> list[LintWarning]:
    """Warnings about a valid pattern (raises :class:`PatternError` for an invalid one)."""
    compiled = compile_pattern(pattern)
    out: list[LintWarning] = []
    for branch in compiled.branches:
        found = _case_warnings(branch)
        if _is_batch(branch) or found:
            fanout = _fanout(branch) if _is_batch(branch) else None
            if fanout is not None:
                found.append(fanout)
            for fld in branch:
                found.extend(_field_warnings(fld))
        for warning in found:
            if warning not in out:
                out.append(warning)
    return out
