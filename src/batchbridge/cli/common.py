"""What every client-side command shares: the endpoint, the region and boto3 clients.

Commands talk to a running server through the AWS APIs with boto3, exactly as a user's own
scripts would, so each works against any batchbridge endpoint given with ``--endpoint`` (or
``BATCHBRIDGE_ENDPOINT``).  When no AWS credentials are configured, dummy ones are used: the
server accepts any signature unless it runs with ``--require-auth``.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """``--endpoint`` and ``--region``, shared by every command that calls a server."""
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("BATCHBRIDGE_ENDPOINT", DEFAULT_ENDPOINT),
        help="the batchbridge endpoint (env BATCHBRIDGE_ENDPOINT; default %(default)s)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="the AWS region to address (default %(default)s)",
    )


def client(args: argparse.Namespace, service: str) -> Any:
    """A boto3 client for ``service`` bound to the command's endpoint and region."""
    session = boto3.session.Session()
    credentials: dict[str, str] = {}
    if session.get_credentials() is None:
        credentials = {"aws_access_key_id": "batchbridge", "aws_secret_access_key": "batchbridge"}
    return session.client(
        service,
        endpoint_url=args.endpoint,
        region_name=args.region,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        **credentials,
    )


def read_json_file(path: str) -> Any:
    """The JSON document in ``path`` (``file://`` prefixes accepted, as the aws CLI does)."""
    if path.startswith("file://"):
        path = path[len("file://") :]
    return json.loads(Path(path).read_text())


def extension_get(args: argparse.Namespace, path: str) -> Any:
    """GET one of batchbridge's own read-only endpoints (``/_batchbridge/...``) as JSON."""
    url = args.endpoint.rstrip("/") + path
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
