"""ARNs and identifiers in AWS's shapes.

Formats (AWS Batch API reference and samples):

* compute environment ``arn:aws:batch:{region}:{account}:compute-environment/{name}``
* job queue ``arn:aws:batch:{region}:{account}:job-queue/{name}``
* job definition ``arn:aws:batch:{region}:{account}:job-definition/{name}:{revision}``
* job ``arn:aws:batch:{region}:{account}:job/{jobId}``; an array child ``.../job/{parentId}:{index}``
* EventBridge ``arn:aws:events:{region}:{account}:event-bus/{name}`` and ``.../rule/[{bus}/]{name}``
* Lambda ``arn:aws:lambda:{region}:{account}:function:{name}``
* SQS ``arn:aws:sqs:{region}:{account}:{queue}``; Logs ``arn:aws:logs:{region}:{account}:log-group:{name}``
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
import uuid

PARTITION = "aws"


@dataclasses.dataclass(frozen=True)
class Arn:
    """A parsed ARN: ``arn:partition:service:region:account:resource``."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str) -> Arn | None:
    """Parse ``text`` as an ARN, or return ``None`` when it is not one."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[2]:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def make_arn(service: str, region: str, account: str, resource: str) -> str:
    return str(Arn(PARTITION, service, region, account, resource))


def batch_arn(region: str, account: str, kind: str, name: str) -> str:
    """``kind`` is ``compute-environment``, ``job-queue``, ``job-definition`` or ``job``."""
    return make_arn("batch", region, account, f"{kind}/{name}")


def new_uuid() -> str:
    """A lowercase UUID v4, the shape of Batch job ids and event ids."""
    return str(uuid.uuid4())


_RANDOM = random.Random(os.urandom(16))
os.register_at_fork(after_in_child=lambda: _RANDOM.seed(os.urandom(16)))


def new_ordered_uuid() -> str:
    """A lowercase UUID version 7 (RFC 9562): epoch milliseconds first, then 74 random bits.

    Event ids have the UUID shape and need only be unique; ids made one after the other sort in
    the order they were made, so an index over them grows at its end instead of taking a write
    in a random page for every new id.
    """
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | 0x2 << 62
    value |= (_RANDOM.getrandbits(12) << 64) | _RANDOM.getrandbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_hex_id() -> str:
    """32 hex digits, the shape of ECS task ids and Lambda log stream suffixes (random, not secret)."""
    return f"{_RANDOM.getrandbits(128):032x}"
