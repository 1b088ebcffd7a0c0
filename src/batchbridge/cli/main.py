"""The ``batchbridge`` command: a small dispatcher over one module per subcommand.

Each subcommand lives in ``batchbridge.cli.<name>_cmd`` and exposes ``add_parser(subparsers)``,
which registers its arguments and sets ``func`` (``(args) -> int``) as the parser default.
Adding a command is adding its module name to :data:`COMMANDS`; a listed module that is not
present in this build is skipped.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

#: Modules of ``batchbridge.cli`` that each add one subcommand.
COMMANDS: tuple[str, ...] = ("server_cmd",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchbridge", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"batchbridge.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"batchbridge.cli.{name}":
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
