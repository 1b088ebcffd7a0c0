"""The caller's identity as every service operation sees it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RequestContext:
    """Who is calling and where: the account and region shape every ARN a call creates.

    ``region`` comes from the SigV4 credential scope of the request (the server's default region
    when the request is unsigned); ``request_id`` is echoed as ``x-amzn-RequestId``.
    """

    account_id: str
    region: str
    request_id: str
