"""AWS Signature Version 4: who is calling, from which region, and (optionally) proof of it.

By default every request is accepted, signed or not; a signed request's region is the region
of its credential scope (``Credential=AKID/20240101/eu-west-1/batch/aws4_request``), an unsigned
one gets the server's default region.

With ``Settings.require_auth`` the signature is verified against ``Settings.credentials``
(access key id -> secret), in both of SigV4's forms: the ``Authorization`` header and the
presigned query (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Signature``, ...).  The
canonical request is rebuilt from the request exactly as sent: the raw path, normalised and
URI-encoded once more as AWS does for every service but S3; the raw query pairs sorted; the
signed headers trimmed and lower-cased; the payload hash from ``X-Amz-Content-SHA256`` when
sent, else the SHA-256 of the body (a presigned request may also sign ``UNSIGNED-PAYLOAD``).

Refusals use AWS's codes and texts, all HTTP 403:

* no signature: ``MissingAuthenticationToken`` (``Missing Authentication Token`` on rest-json,
  ``Request is missing Authentication Token`` on JSON protocols);
* unknown access key: ``UnrecognizedClientException``, ``The security token included in the
  request is invalid.``;
* wrong signature: ``InvalidSignatureException``, ``The request signature we calculated does
  not match the signature you provided. ...``.

Clock skew and presigned expiry are not checked: a local emulator's clients share its clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from multidict import MultiMapping

from batchbridge.errors import ServiceError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

MISSING_TOKEN_REST = "Missing Authentication Token"
MISSING_TOKEN_JSON = "Request is missing Authentication Token"
UNRECOGNIZED_CLIENT = "The security token included in the request is invalid."
INVALID_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class Signature:
    """The parts of a SigV4 signature, from the ``Authorization`` header or the query."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    presigned: bool


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the request: the access key and the region the request was signed for."""

    access_key_id: str | None
    region: str


def _split_scope(credential: str) -> tuple[str, str, str, str] | None:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts[0], parts[1], parts[2], parts[3]


def parse_authorization(value: str) -> dict[str, str] | None:
    """Split ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, text = part.strip().partition("=")
        if sep:
            fields[name] = text
    return fields


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    if not raw_query:
        return []
    pairs = []
    for pair in raw_query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return pairs


def find_signature(headers: MultiMapping[str], raw_query: str) -> Signature | None:
    """Extract the request's signature (header or presigned form), or ``None`` if unsigned."""
    authorization = headers.get("Authorization")
    if authorization:
        fields = parse_authorization(authorization)
        scope = _split_scope(fields.get("Credential", "")) if fields else None
        if fields is None or scope is None:
            return None
        timestamp = headers.get("X-Amz-Date") or ""
        return Signature(
            access_key_id=scope[0],
            date=scope[1],
            region=scope[2],
            service=scope[3],
            signed_headers=tuple(h for h in fields.get("SignedHeaders", "").split(";") if h),
            signature=fields.get("Signature", ""),
            timestamp=timestamp,
            presigned=False,
        )
    if "X-Amz-Signature=" not in raw_query:
        return None
    query = {key: unquote(value) for key, value in _query_pairs(raw_query)}
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        return None
    scope = _split_scope(query.get("X-Amz-Credential", ""))
    if scope is None:
        return None
    return Signature(
        access_key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=tuple(h for h in query.get("X-Amz-SignedHeaders", "").split(";") if h),
        signature=query.get("X-Amz-Signature", ""),
        timestamp=query.get("X-Amz-Date", ""),
        presigned=True,
    )


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if output:
                output.pop()
        else:
            output.append(segment)
    result = "/" + "/".join(output)
    if path.endswith("/") and result != "/":
        result += "/"
    return result


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: MultiMapping[str],
    signature: Signature,
    payload_hash: str,
) -> str:
    """SigV4's canonical request for a request as received."""
    canonical_uri = quote(_remove_dot_segments(raw_path or "/"), safe="/~")
    pairs = _query_pairs(raw_query)
    if signature.presigned:
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    lines = []
    for name in signature.signed_headers:
        values = headers.getall(name, [])
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}")
    return "\n".join(
        [
            method.upper(),
            canonical_uri,
            canonical_query,
            "\n".join(lines) + "\n",
            ";".join(signature.signed_headers),
            payload_hash,
        ]
    )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def compute_signature(secret: str, signature: Signature, canonical: str) -> str:
    """The hex signature of ``canonical`` for ``signature``'s scope, with ``secret``."""
    scope = f"{signature.date}/{signature.region}/{signature.service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, signature.timestamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    key = _hmac(f"AWS4{secret}".encode(), signature.date)
    key = _hmac(key, signature.region)
    key = _hmac(key, signature.service)
    key = _hmac(key, "aws4_request")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


class Authenticator:
    """Accepts, or verifies, the SigV4 signature of each request."""

    def __init__(self, default_region: str, require_auth: bool, credentials: Mapping[str, str]) -> None:
        self.default_region = default_region
        self.require_auth = require_auth
        self.credentials = dict(credentials)

    def authenticate(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: MultiMapping[str],
        body: bytes,
        json_protocol: bool,
    ) -> Caller:
        """Return the caller, or raise a 403 :class:`ServiceError` when auth is required and fails."""
        signature = find_signature(headers, raw_query)
        if not self.require_auth:
            if signature is None:
                return Caller(None, self.default_region)
            return Caller(signature.access_key_id, signature.region or self.default_region)
        if signature is None:
            message = MISSING_TOKEN_JSON if json_protocol else MISSING_TOKEN_REST
            raise ServiceError(message, code="MissingAuthenticationToken", status=403)
        secret = self.credentials.get(signature.access_key_id)
        if secret is None:
            raise ServiceError(UNRECOGNIZED_CLIENT, code="UnrecognizedClientException", status=403)
        if not signature.timestamp:
            raise ServiceError(INVALID_SIGNATURE, code="InvalidSignatureException", status=403)
        declared = headers.get("X-Amz-Content-SHA256")
        candidates = [declared] if declared else [hashlib.sha256(body).hexdigest()]
        if signature.presigned and UNSIGNED_PAYLOAD not in candidates:
            candidates.append(UNSIGNED_PAYLOAD)
        for payload_hash in candidates:
            canonical = canonical_request(method, raw_path, raw_query, headers, signature, payload_hash)
            expected = compute_signature(secret, signature, canonical)
            if hmac.compare_digest(expected, signature.signature):
                return Caller(signature.access_key_id, signature.region)
        raise ServiceError(INVALID_SIGNATURE, code="InvalidSignatureException", status=403)
