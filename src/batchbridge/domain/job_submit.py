"""SubmitJob's checks and the jobs it creates, from the request and the resolved definition.

AWS rules enforced here (SubmitJob reference, User Guide "Array jobs", "Job dependencies",
"Job timeouts", "Automated job retries", "AWS Batch job environment variables"):

* ``jobName`` matches ``^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`` (AWS's text:
  ``Error executing request, Exception : Job name should match valid pattern, RequestId: <id>``);
* ``arrayProperties.size`` is 2..10000 (AWS's text is not known; ours follows the same wrapper);
* at most 20 ``dependsOn`` entries, ``type`` N_TO_N or SEQUENTIAL, SEQUENTIAL without ``jobId``
  only on an array job;
* ``containerOverrides.environment`` names may not start with ``AWS_BATCH``; ``command`` has no
  empty element;
* ``retryStrategy`` attempts 1..10, at most 5 ``evaluateOnExit``; ``timeout`` at least the
  configured minimum (AWS: 60 s); tags at most 50 (keys 1..128, values up to 256 characters);
* ``shareIdentifier``/``schedulingPriorityOverride`` only on fair-share queues (none here).

The container view is the definition's ``containerProperties`` with overrides applied: ``command``
replaced; ``environment`` merged by name (definition order kept, new names appended);
``resourceRequirements`` replaced per ``type`` (definition order kept, new types appended); the
command's ``Ref::`` placeholders substituted with the merged parameters.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from batchbridge.domain.job_events import CONTAINER_ORDER, RUNTIME_FIELDS
from batchbridge.domain.parameters import merge_parameters, substitute
from batchbridge.domain.retry import validate_retry_strategy
from batchbridge.errors import ClientException

JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MAX_DEPENDENCIES = 20
MIN_ARRAY_SIZE = 2
MAX_ARRAY_SIZE = 10_000
MAX_TAGS = 50


def wrapped(detail: str, request_id: str) -> str:
    """AWS Batch's wrapped message style: ``Error executing request, Exception : ..., RequestId: ...``."""
    return f"Error executing request, Exception : {detail}, RequestId: {request_id}"


def check_job_name(name: Any, request_id: str) -> str:
    if not isinstance(name, str) or not JOB_NAME.match(name):
        raise ClientException(wrapped("Job name should match valid pattern", request_id))
    return name


def check_array_size(array_properties: Mapping[str, Any] | None, request_id: str) -> int | None:
    if not array_properties:
        return None
    size = array_properties.get("size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_ARRAY_SIZE <= size <= MAX_ARRAY_SIZE:
        raise ClientException(
            wrapped(f"arrayProperties.size must be between {MIN_ARRAY_SIZE} and {MAX_ARRAY_SIZE}", request_id)
        )
    return size


def check_depends_on(
    depends_on: list[Mapping[str, Any]] | None, array_size: int | None
) -> list[dict[str, str]]:
    entries = list(depends_on or [])
    if len(entries) > MAX_DEPENDENCIES:
        raise ClientException(f"dependsOn can have at most {MAX_DEPENDENCIES} entries; got {len(entries)}")
    out: list[dict[str, str]] = []
    for position, entry in enumerate(entries):
        item: dict[str, str] = {}
        job_id = entry.get("jobId")
        dep_type = entry.get("type")
        if dep_type is not None and dep_type not in ("N_TO_N", "SEQUENTIAL"):
            raise ClientException(f"dependsOn[{position}].type must be N_TO_N or SEQUENTIAL; got {dep_type}")
        if job_id is None:
            if dep_type != "SEQUENTIAL":
                raise ClientException(f"dependsOn[{position}].jobId is required unless type is SEQUENTIAL")
            if array_size is None:
                raise ClientException(
                    f"dependsOn[{position}]: a SEQUENTIAL dependency without jobId needs an array job"
                )
        else:
            item["jobId"] = str(job_id)
        if dep_type == "N_TO_N" and array_size is None:
            raise ClientException(f"dependsOn[{position}]: an N_TO_N dependency needs an array job")
        if dep_type is not None:
            item["type"] = str(dep_type)
        out.append(item)
    return out


def check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not 1 <= len(tags) <= MAX_TAGS:
        raise ClientException(f"tags must have between 1 and {MAX_TAGS} entries; got {len(tags)}")
    for key, value in tags.items():
        if not 1 <= len(str(key)) <= 128:
            raise ClientException(f"tag key {key!r} must be 1 to 128 characters")
        if len(str(value)) > 256:
            raise ClientException(f"tag value of {key!r} must be at most 256 characters")
    return {str(k): str(v) for k, v in tags.items()}


def check_timeout(timeout: Mapping[str, Any] | None, minimum: int) -> dict[str, int] | None:
    if not timeout or timeout.get("attemptDurationSeconds") is None:
        return None
    seconds = timeout["attemptDurationSeconds"]
    if not isinstance(seconds, int) or seconds < minimum:
        raise ClientException(
            f"timeout.attemptDurationSeconds must be at least {minimum} seconds; got {seconds}"
        )
    return {"attemptDurationSeconds": seconds}


def _merge_named(
    base: list[dict[str, Any]], extra: list[Mapping[str, Any]], key: str
) -> list[dict[str, Any]]:
    merged = [dict(item) for item in base]
    index = {str(item.get(key)): pos for pos, item in enumerate(merged)}
    for item in extra:
        name = str(item.get(key))
        if name in index:
            merged[index[name]] = dict(item)
        else:
            index[name] = len(merged)
            merged.append(dict(item))
    return merged


def check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    if not overrides:
        return {}
    out = dict(overrides)
    for position, element in enumerate(out.get("command") or []):
        if element == "":
            raise ClientException(f"containerOverrides.command[{position}] must not be an empty string")
    for position, pair in enumerate(out.get("environment") or []):
        name = str(pair.get("name", ""))
        if name.startswith("AWS_BATCH"):
            raise ClientException(
                f"containerOverrides.environment[{position}].name {name} must not start with AWS_BATCH"
            )
    for position, req in enumerate(out.get("resourceRequirements") or []):
        if req.get("type") not in ("GPU", "VCPU", "MEMORY"):
            raise ClientException(
                f"containerOverrides.resourceRequirements[{position}].type must be GPU, VCPU or MEMORY"
            )
    return out


def build_container(
    properties: Mapping[str, Any] | None, overrides: Mapping[str, Any], parameters: Mapping[str, str]
) -> dict[str, Any]:
    """The job's static ``container`` view: definition + overrides, ``Ref::`` substituted."""
    source = copy.deepcopy(dict(properties or {}))
    container = {k: source[k] for k in CONTAINER_ORDER if k in source and k not in RUNTIME_FIELDS}
    if overrides.get("command") is not None:
        container["command"] = list(overrides["command"])
    if overrides.get("environment"):
        container["environment"] = _merge_named(
            list(container.get("environment") or []), overrides["environment"], "name"
        )
    if overrides.get("resourceRequirements"):
        container["resourceRequirements"] = [
            {"value": str(r.get("value")), "type": str(r.get("type"))}
            for r in _merge_named(
                list(container.get("resourceRequirements") or []), overrides["resourceRequirements"], "type"
            )
        ]
    elif container.get("resourceRequirements"):
        container["resourceRequirements"] = [
            {"value": str(r.get("value")), "type": str(r.get("type"))}
            for r in container["resourceRequirements"]
        ]
    for legacy in ("vcpus", "memory"):
        if overrides.get(legacy) is not None:
            container[legacy] = overrides[legacy]
    if overrides.get("instanceType") is not None:
        container["instanceType"] = overrides["instanceType"]
    container["command"] = substitute(list(container.get("command") or []), parameters)
    return container


def merged_parameters(definition: Mapping[str, Any], submitted: Mapping[str, Any] | None) -> dict[str, str]:
    return merge_parameters(definition.get("parameters"), submitted)


def effective_retry(
    definition: Mapping[str, Any], submitted: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """Submit-time ``retryStrategy`` overrides the definition's (validated either way)."""
    chosen = submitted if submitted is not None else definition.get("retryStrategy")
    if not chosen:
        return None
    return validate_retry_strategy(chosen)


def user_environment(container: Mapping[str, Any]) -> dict[str, str]:
    """The job's own variables (definition + overrides), as name -> value."""
    return {str(p.get("name")): str(p.get("value", "")) for p in container.get("environment") or []}
