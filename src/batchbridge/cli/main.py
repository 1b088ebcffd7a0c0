"""The ``batchbridge`` command: a small dispatcher over one module per subcommand.

Every module ``batchbridge.cli.<name>_cmd`` is a subcommand: it exposes
``add_parser(subparsers)``, which registers its arguments and sets ``func`` (``(args) -> int``)
as the parser default.  Modules are discovered over the package, so adding a command is adding
its module.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Sequence

import batchbridge.cli


def command_modules() -> list[str]:
    """Names of the subcommand modules of ``batchbridge.cli``, sorted."""
    return sorted(
        info.name for info in pkgutil.iter_modules(batchbridge.cli.__path__) if info.name.endswith("_cmd")
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchbridge", description="AWS Batch, EventBridge and Lambda on your own machine."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in command_modules():
        module = importlib.import_module(f"batchbridge.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*(argv or []), "--help"] if argv is not None else [args.command, "--help"])
        return 2
    result: int = func(args)
    return result
