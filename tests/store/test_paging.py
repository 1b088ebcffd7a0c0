"""Opaque nextToken strings: round trip, tamper and scope checks."""

from __future__ import annotations

import base64
import json

import pytest

from batchbridge.errors import ClientException, ValidationException
from batchbridge.store.paging import check_max_results, decode_token, encode_token, split_page


def test_round_trip() -> None:
    token = encode_token("batch:DescribeJobQueues", [42, "q-name"])
    assert decode_token(token, "batch:DescribeJobQueues") == [42, "q-name"]
    assert "=" not in token


@pytest.mark.parametrize("bad", ["", "not-base64!!", "e30", "bnVsbA", "x" * 40])
def test_garbage_rejected_naming_next_token(bad: str) -> None:
    with pytest.raises(ClientException, match="nextToken"):
        decode_token(bad, "s")


def test_edited_position_rejected() -> None:
    token = encode_token("s", [5])
    doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    doc["p"] = [6]
    forged = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()
    with pytest.raises(ClientException, match="nextToken"):
        decode_token(forged, "s")


def test_token_from_other_listing_rejected_with_chosen_error() -> None:
    token = encode_token("a", [1])
    with pytest.raises(ValidationException, match="NextToken"):
        decode_token(token, "b", error=ValidationException, field="NextToken")


def test_max_results_bounds() -> None:
    assert check_max_results(None) is None
    assert check_max_results(100) == 100
    for bad in (0, 101, -1):
        with pytest.raises(ClientException, match="maxResults"):
            check_max_results(bad)


def test_split_page() -> None:
    assert split_page([1, 2, 3], 2) == ([1, 2], True)
    assert split_page([1, 2], 2) == ([1, 2], False)
