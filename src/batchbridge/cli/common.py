"""What every client-side command shares: the endpoint, the region, boto3 clients and consoles.

Commands talk to a running server through the AWS APIs with boto3, exactly as a user's own
scripts would, so each works against any batchbridge endpoint given with ``--endpoint`` (or
``BATCHBRIDGE_ENDPOINT``).  When no AWS credentials are configured, dummy ones are used: the
server accepts any signature unless it runs with ``--require-auth``.

Failures a user can cause (no server at the endpoint, an AWS error such as an unknown rule, an
unreadable JSON file) are raised as :class:`CommandError` and printed by the dispatcher as one
line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from rich.console import Console

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


class CommandError(Exception):
    """A failure to report in one line; ``status`` is the command's exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def unreachable(endpoint: str) -> CommandError:
    """The error for an endpoint where no server answers."""
    return CommandError(f"cannot reach batchbridge at {endpoint}: start it with 'batchbridge server'")


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
        help="the AWS region to address (env AWS_REGION; default %(default)s)",
    )


def make_console(stderr: bool = False) -> Console:
    """A console whose long lines (ARNs, log lines) are never broken when output is piped."""
    return Console(stderr=stderr, soft_wrap=True)


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
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5),
        **credentials,
    )


def read_json_file(path: str, what: str = "file") -> Any:
    """The JSON document in ``path`` (``file://`` prefixes accepted, as the aws CLI does)."""
    if path.startswith("file://"):
        path = path[len("file://") :]
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{what} {path} is not valid JSON: {exc}") from exc


def extension_get(args: argparse.Namespace, path: str) -> Any:
    """GET one of batchbridge's own read-only endpoints (``/_batchbridge/...``) as JSON."""
    url = args.endpoint.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise CommandError(
            f"{url} answered HTTP {exc.code}: is {args.endpoint} a batchbridge server?"
        ) from exc
    except (urllib.error.URLError, ConnectionError) as exc:
        raise unreachable(args.endpoint) from exc
