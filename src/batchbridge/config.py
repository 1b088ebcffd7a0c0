"""One frozen :class:`Settings`, built from CLI flags and ``BATCHBRIDGE_*`` variables in one place.

Precedence: an explicit keyword (a CLI flag) wins over the environment, which wins over the
defaults below.  The defaults are AWS's own rules wherever AWS has one (for example the 60-second
minimum job timeout and the 30-second grace between SIGTERM and SIGKILL).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from batchbridge.executors.base import CPU_PRIORITIES

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_PORT = 4566


def default_data_dir() -> Path:
    """The per-user data folder: ``$XDG_DATA_HOME/batchbridge`` or ``~/.local/share/batchbridge``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "batchbridge"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, fixed for the life of one process."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = DEFAULT_REGION
    require_auth: bool = False
    #: access key id -> secret access key, used only when ``require_auth`` is set.
    credentials: Mapping[str, str] = dataclasses.field(default_factory=dict)
    access_log: bool = True
    #: AWS rejects ``attemptDurationSeconds`` below 60; tests may lower it.
    min_timeout_seconds: int = 60
    #: Seconds between SIGTERM and SIGKILL when a job is stopped (AWS: 30).
    kill_grace_seconds: float = 30.0
    #: CPU priority of the local executor's attempts: ``idle`` (Linux ``SCHED_IDLE``: jobs use the
    #: CPU time nothing else on the machine wants) or ``normal`` (the default policy).  See
    #: :mod:`batchbridge.executors.process`.
    job_cpu_priority: str = "idle"
    #: How often the scheduler looks for work when nothing wakes it, in seconds.
    scheduler_interval: float = 0.05
    #: Seconds the host agent lingers with no server connected and nothing running.
    agent_idle_seconds: float = 60.0
    #: Memory this server may hand to jobs, in MiB (default: the machine's memory).
    memory_mib: int = 0
    #: compute environment name -> Ray cluster address (``--ray CE=ADDRESS``, ``BATCHBRIDGE_RAY``).
    ray_bindings: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: container image -> local entrypoint (the command that stands for the image on this host).
    images: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "batchbridge.sqlite3"


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def read_credentials_file(path: Path) -> dict[str, str]:
    """Read ``ACCESS_KEY_ID SECRET`` pairs, one per line, or an AWS-style ini file."""
    creds: dict[str, str] = {}
    key_id: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("["):
            continue
        if "=" in line:
            name, _, value = (part.strip() for part in line.partition("="))
            if name == "aws_access_key_id":
                key_id = value
            elif name == "aws_secret_access_key" and key_id is not None:
                creds[key_id] = value
                key_id = None
            continue
        parts = line.split()
        if len(parts) == 2:
            creds[parts[0]] = parts[1]
    return creds


def parse_images(specs: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Parse ``IMAGE=COMMAND`` items (the command split like a shell would) into an image map."""
    images: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        image, sep, command = spec.partition("=")
        if not sep or not image.strip() or not command.strip():
            raise ValueError(f"image mapping must look like IMAGE=COMMAND, got {spec!r}")
        images[image.strip()] = tuple(shlex.split(command))
    return images


def parse_ray_bindings(specs: Iterable[str]) -> dict[str, str]:
    """Parse ``CE_NAME=ADDRESS`` items (``--ray``, or ``BATCHBRIDGE_RAY`` split on ``;``).

    Each names a compute environment whose attempts run on the Ray cluster at ``ADDRESS``
    (``host:port`` of the head node, or ``auto``); the other environments stay on this machine.
    One server connects to one cluster, so every binding must name the same address.
    """
    bindings: dict[str, str] = {}
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        name, sep, address = (part.strip() for part in spec.partition("="))
        if not sep or not name or not address:
            raise ValueError(f"Ray binding must look like CE_NAME=ADDRESS, got {spec!r}")
        bindings[name] = address
    addresses = sorted(set(bindings.values()))
    if len(addresses) > 1:
        raise ValueError(
            f"Ray bindings name more than one cluster ({', '.join(addresses)}); a server connects to one"
        )
    return bindings


def parse_cpu_priority(value: str) -> str:
    """``normal`` or ``idle`` (any case); anything else is an error naming the setting."""
    priority = value.strip().lower()
    if priority not in CPU_PRIORITIES:
        choices = ", ".join(CPU_PRIORITIES)
        raise ValueError(f"BATCHBRIDGE_JOB_CPU_PRIORITY must be one of {choices}; got {value!r}")
    return priority


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``) and explicit overrides.

    Overrides whose value is ``None`` are ignored, so CLI flags left unset fall through.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if "BATCHBRIDGE_HOST" in env:
        values["host"] = env["BATCHBRIDGE_HOST"]
    if "BATCHBRIDGE_PORT" in env:
        values["port"] = int(env["BATCHBRIDGE_PORT"])
    if "BATCHBRIDGE_DATA_DIR" in env:
        values["data_dir"] = Path(env["BATCHBRIDGE_DATA_DIR"])
    if "BATCHBRIDGE_ACCOUNT_ID" in env:
        values["account_id"] = env["BATCHBRIDGE_ACCOUNT_ID"]
    if "BATCHBRIDGE_REGION" in env:
        values["region"] = env["BATCHBRIDGE_REGION"]
    if "BATCHBRIDGE_REQUIRE_AUTH" in env:
        values["require_auth"] = _env_bool(env["BATCHBRIDGE_REQUIRE_AUTH"])
    if "BATCHBRIDGE_MIN_TIMEOUT_SECONDS" in env:
        values["min_timeout_seconds"] = int(env["BATCHBRIDGE_MIN_TIMEOUT_SECONDS"])
    if "BATCHBRIDGE_KILL_GRACE_SECONDS" in env:
        values["kill_grace_seconds"] = float(env["BATCHBRIDGE_KILL_GRACE_SECONDS"])
    if "BATCHBRIDGE_JOB_CPU_PRIORITY" in env:
        values["job_cpu_priority"] = parse_cpu_priority(env["BATCHBRIDGE_JOB_CPU_PRIORITY"])
    if "BATCHBRIDGE_IMAGES" in env:
        values["images"] = parse_images(env["BATCHBRIDGE_IMAGES"].split(";"))
    if "BATCHBRIDGE_RAY" in env:
        values["ray_bindings"] = parse_ray_bindings(env["BATCHBRIDGE_RAY"].split(";"))
    creds: dict[str, str] = {}
    key_id = env.get("BATCHBRIDGE_ACCESS_KEY_ID")
    secret = env.get("BATCHBRIDGE_SECRET_ACCESS_KEY")
    if key_id and secret:
        creds[key_id] = secret
    credentials_file = overrides.pop("credentials_file", None)
    if credentials_file is not None:
        creds.update(read_credentials_file(Path(credentials_file)))
    if creds:
        values["credentials"] = creds
    for name, value in overrides.items():
        if value is not None:
            values[name] = Path(value) if name == "data_dir" else value
    return Settings(**values)
