"""``batchbridge server``: serve the AWS APIs on one port until SIGTERM or SIGINT.

Flags build :class:`~batchbridge.config.Settings` through ``config.load_settings``, so a flag
left unset falls back to its ``BATCHBRIDGE_*`` variable, then to the default (loopback
``127.0.0.1:4566``).  A port already in use is reported in one line (exit status 2).
"""

from __future__ import annotations

import argparse
import errno
from typing import Any

from batchbridge.cli.common import CommandError
from batchbridge.config import load_settings, parse_images, parse_ray_bindings


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "server", help="run the batchbridge server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, help="port to bind (default 4566; 0 picks a free port)")
    parser.add_argument("--data-dir", help="folder for the database and job logs")
    parser.add_argument(
        "--require-auth",
        action="store_true",
        default=None,
        help="verify SigV4 signatures against the known credentials",
    )
    parser.add_argument(
        "--credentials", help="file of 'ACCESS_KEY_ID SECRET' lines or an AWS credentials file"
    )
    parser.add_argument("--region", help="region of unsigned requests (default us-east-1)")
    parser.add_argument("--account-id", help="account id in every ARN (default 123456789012)")
    parser.add_argument(
        "--no-access-log", dest="access_log", action="store_false", default=None, help="no per-request log"
    )
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="IMAGE=COMMAND",
        help="run COMMAND for container image IMAGE (repeatable; env BATCHBRIDGE_IMAGES, ';'-separated)",
    )
    parser.add_argument(
        "--ray",
        action="append",
        default=[],
        metavar="CE_NAME=ADDRESS",
        help="run compute environment CE_NAME on the Ray cluster at ADDRESS (repeatable; "
        "env BATCHBRIDGE_RAY, ';'-separated; needs pip install 'batchbridge[ray]')",
    )
    parser.add_argument(
        "--min-timeout-seconds",
        type=int,
        help="lowest accepted attemptDurationSeconds (AWS: 60; lower it for fast tests)",
    )
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from batchbridge.server import run

    try:
        images = parse_images(args.image) if args.image else None
        ray_bindings = parse_ray_bindings(args.ray) if args.ray else None
    except ValueError as exc:
        raise CommandError(f"server: {exc}") from exc
    settings = load_settings(
        images=images,
        ray_bindings=ray_bindings,
        min_timeout_seconds=args.min_timeout_seconds,
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        require_auth=args.require_auth,
        credentials_file=args.credentials,
        region=args.region,
        account_id=args.account_id,
        access_log=args.access_log,
    )
    try:
        return run(settings)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise CommandError(
            f"server: {settings.host}:{settings.port} is already in use (is batchbridge already running? "
            "--port picks another port, --port 0 a free one)"
        ) from exc
