"""The ``batchbridge`` command: a small dispatcher over one module per subcommand.

Every module ``batchbridge.cli.<name>_cmd`` is a subcommand: it exposes
``add_parser(subparsers)``, which registers its arguments and sets ``func`` (``(args) -> int``)
as the parser default.  Modules are discovered over the package, so adding a command is adding
its module.

The dispatcher turns the failures a user can cause into one line on stderr and exit status 2:
no server at the endpoint (``cannot reach batchbridge at URL: start it with 'batchbridge
server'``), an AWS error answer (``ResourceNotFoundException: Rule r does not exist.``), a
missing or malformed file.  Ctrl-C exits with 130, as a shell does.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from rich.markup import escape

import batchbridge
import batchbridge.cli
from batchbridge.cli.common import CommandError, make_console, unreachable
from batchbridge.errors import PatternError

EXAMPLES = """\
examples:
  batchbridge server --image print-color="sh print-color.sh"   serve the AWS APIs on :4566
  batchbridge demo                                 play the array-completion scenario
  batchbridge wait JOB_ID                          progress of an array until it ends
  batchbridge logs JOB_ID --index 3 --follow       one child's output
  batchbridge events tail --compact                events as they reach the default bus
  batchbridge explain --rule R --job JOB_ID:0      why rule R matches a child's events or not
  batchbridge rules lint                           warnings such as "fires once per child"

Every command that talks to a server takes --endpoint (env BATCHBRIDGE_ENDPOINT,
default http://127.0.0.1:4566); `batchbridge COMMAND --help` describes each one.
"""


def command_modules() -> list[str]:
    """Names of the subcommand modules of ``batchbridge.cli``, sorted."""
    return sorted(
        info.name for info in pkgutil.iter_modules(batchbridge.cli.__path__) if info.name.endswith("_cmd")
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchbridge",
        description="AWS Batch, EventBridge and Lambda on your own machine.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"batchbridge {batchbridge.__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
        module = importlib.import_module(f"batchbridge.cli.{name}")
        module.add_parser(subparsers)
    return parser


def _fail(message: str, status: int = 2) -> int:
    make_console(stderr=True).print(f"[red]batchbridge: {message}[/red]", markup=True, highlight=False)
    return status


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command, reporting a user-caused failure in one line."""
    endpoint = getattr(args, "endpoint", "the endpoint")
    try:
        result: int = args.func(args)
    except CommandError as exc:
        return _fail(escape(exc.message), exc.status)
    except (EndpointConnectionError, ConnectionClosedError, ConnectionRefusedError):
        return _fail(escape(unreachable(endpoint).message))
    except ReadTimeoutError:
        return _fail(escape(f"batchbridge at {endpoint} did not answer in time"))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        return _fail(escape(f"{code}: {error.get('Message', str(exc))}"))
    except ParamValidationError as exc:
        return _fail(escape(str(exc)))
    except PatternError as exc:
        return _fail(escape(f"invalid event pattern: {exc.reason}"))
    except KeyboardInterrupt:
        return 130
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return run_command(args)
