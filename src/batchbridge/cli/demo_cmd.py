"""``batchbridge demo``: the array-completion scenario, end to end, on this machine.

Starts an embedded server on a free loopback port with a temporary data folder, then plays the
article's steps with its own files from ``examples/print-color/``: the naive rule runs the handler
8 times (7 children and the parent), the parent-only rule once.  The container image of the
print-color definition stands for ``sh examples/print-color/print-color.sh`` on this host.
Ends with ``demo ok: ...`` only after both counts were observed; any other outcome exits 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from batchbridge.cli.common import make_console
from batchbridge.cli.scenario import ScenarioError, play


def default_examples() -> Path:
    """``examples/print-color`` of the source tree, else of the current folder."""
    here = Path(__file__).resolve().parents[3] / "examples" / "print-color"
    return here if here.is_dir() else Path.cwd() / "examples" / "print-color"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="play the array-completion scenario (about 5 s, nothing to set up)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--examples",
        type=Path,
        default=None,
        help="folder of the print-color files (default: the bundled ones)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from batchbridge.config import Settings
    from batchbridge.server import ThreadedServer
    from batchbridge.testing import BatchBridge

    console = make_console()
    examples: Path = (args.examples or default_examples()).resolve()
    if not (examples / "print-color-job.json").is_file():
        console.print(f"[red]demo: no print-color example files in {examples}[/red]")
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="batchbridge-demo-") as data:
        settings = Settings(
            host="127.0.0.1",
            port=0,
            data_dir=Path(data),
            access_log=False,
            agent_idle_seconds=5.0,
            images={"print-color": ("sh", str(examples / "print-color.sh"))},
        )
        server = ThreadedServer(settings).start()
        bridge = BatchBridge(Path(data))
        bridge.endpoint_url = server.url
        console.print(f"batchbridge is listening on [bold]{server.url}[/bold] (data in {data})")
        try:
            step1, step3 = play(bridge.client, examples, console, server.url)
        except ScenarioError as exc:
            console.print(f"[red]demo failed: {exc}[/red]")
            return 1
        finally:
            server.stop()
    elapsed = time.monotonic() - started
    console.print(f"[dim]finished in {elapsed:.1f} s[/dim]")
    print(f"demo ok: step 1 ran the handler {step1} times, step 3 {'once' if step3 == 1 else step3}")
    return 0
