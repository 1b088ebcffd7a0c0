"""What the runtime needs to know about one function version.

Lambda's configuration limits (Lambda developer guide, "Lambda quotas"; CreateFunction reference):

* ``Timeout`` 1..900 seconds (default 3); ``MemorySize`` 128..10240 MB (default 128);
* ``Handler`` ``module.function`` where the module part may be a dotted path into a package;
* ``Runtime`` one of AWS's identifiers; this runtime runs ``python3.x`` functions with the
  interpreter that runs batchbridge, whatever the minor version named (a documented simplification);
* ``ReservedConcurrentExecutions`` 0.. (0 throttles every invocation).

Invalid values raise ``InvalidParameterValueException`` naming the member, in AWS's words where
AWS has them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from pathlib import Path

from batchbridge.functions.errors import InvalidParameterValueException

LATEST = "$LATEST"
MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 900.0
MIN_MEMORY, MAX_MEMORY = 128, 10240
_HANDLER_RE = re.compile(r"^[^\s]+\.[^\s.]+$")
_RUNTIME_RE = re.compile(r"^python3\.\d+$")


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """One function's configuration as a worker runs it.

    ``revision_id`` is Lambda's RevisionId (it changes with every code or configuration update);
    ``code_sha256`` is the package hash. Workers started for another :attr:`fingerprint` are retired
    before they serve an invocation, so the next invocation after an update runs the new code.
    """

    name: str
    arn: str
    handler: str
    code_dir: Path
    runtime: str = "python3.11"
    version: str = LATEST
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    environment: dict[str, str] = dataclasses.field(default_factory=dict)
    reserved_concurrency: int | None = None
    region: str = "us-east-1"
    account_id: str = "000000000000"
    revision_id: str = ""
    code_sha256: str = ""

    def __post_init__(self) -> None:
        validate_spec(self)

    @property
    def log_group_name(self) -> str:
        """``/aws/lambda/<function name>``, the group Lambda writes to by default."""
        return f"/aws/lambda/{self.name}"

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of everything a running worker has baked in; differs after any update.

        Computed once per spec (a spec is frozen; its environment is never changed after creation).
        """
        material = json.dumps(
            [
                self.arn,
                self.version,
                self.handler,
                self.runtime,
                str(self.code_dir),
                self.memory_mb,
                self.timeout_seconds,
                sorted(self.environment.items()),
                self.region,
                self.account_id,
                self.revision_id,
                self.code_sha256,
            ]
        )
        return hashlib.sha256(material.encode()).hexdigest()


def _invalid(message: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(message)


def validate_spec(spec: FunctionSpec) -> None:
    """Check the members against Lambda's constraints; raise naming the first bad member."""
    if not spec.name or not re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", spec.name):
        raise _invalid(
            f"1 validation error detected: Value '{spec.name}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+"
        )
    if not _HANDLER_RE.match(spec.handler) or len(spec.handler) > 128:
        raise _invalid(
            f"1 validation error detected: Value '{spec.handler}' at 'handler' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: ^[^\\s]+$ "
            "and name a function as module.function"
        )
    if not _RUNTIME_RE.match(spec.runtime):
        raise _invalid(
            f"Value {spec.runtime} at 'runtime' failed to satisfy constraint: "
            "this runtime runs python3.x functions only"
        )
    if not MIN_TIMEOUT <= spec.timeout_seconds <= MAX_TIMEOUT:
        raise _invalid(
            f"1 validation error detected: Value '{spec.timeout_seconds:g}' at 'timeout' failed to "
            "satisfy constraint: Member must have value between 1 and 900"
        )
    if not MIN_MEMORY <= spec.memory_mb <= MAX_MEMORY:
        raise _invalid(
            f"1 validation error detected: Value '{spec.memory_mb}' at 'memorySize' failed to satisfy "
            "constraint: Member must have value between 128 and 10240"
        )
    if spec.reserved_concurrency is not None and spec.reserved_concurrency < 0:
        raise _invalid(
            f"1 validation error detected: Value '{spec.reserved_concurrency}' at "
            "'reservedConcurrentExecutions' failed to satisfy constraint: "
            "Member must have value greater than or equal to 0"
        )
    for key, value in spec.environment.items():
        if (
            not isinstance(key, str)
            or not isinstance(value, str)
            or not re.fullmatch(r"[a-zA-Z]([a-zA-Z0-9_])+", key)
        ):
            raise _invalid(
                f"1 validation error detected: Value at 'environment.variables' failed to satisfy "
                f"constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
                f"pattern: [a-zA-Z]([a-zA-Z0-9_])+] (key {key!r})"
            )
