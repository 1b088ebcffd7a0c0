"""The application: settings, the store, the services and the background tasks, in one object.

:class:`Application` is built the same way whether it runs inside a test (a thread with its own
event loop, see :class:`batchbridge.server.ThreadedServer`) or as ``batchbridge server`` in its
own process.  Everything the HTTP layer and the background tasks share hangs off it:

* ``settings``: the frozen :class:`~batchbridge.config.Settings`;
* ``db``: ``batchbridge.store.Database.open(settings.db_path)`` when the store package provides
  it, else ``None``;
* ``services``: the services table keyed by botocore service name (``"batch"``, ``"events"``,
  ``"logs"``, ``"lambda"``, ``"sqs"``), built in one place, :func:`build_services`;
* ``background``: coroutine functions started with the server and cancelled on shutdown (the
  scheduler and event delivery plug in here).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from batchbridge.api.auth import Authenticator
from batchbridge.api.catalog import SERVICE_NAMES, Catalog, load_catalog
from batchbridge.api.handler import Dispatcher
from batchbridge.config import Settings

log = logging.getLogger("batchbridge.app")

BackgroundTask = Callable[[], Awaitable[None]]

#: service name -> (module, class) of the service objects built as ``cls(db, settings)``.  Services
#: that need more collaborators (EventBridge's rule registry, Lambda's function runtime) are added
#: to :func:`build_services` with them.
SERVICE_FACTORIES: dict[str, tuple[str, str]] = {
    "batch": ("batchbridge.services.batch", "BatchService"),
    "logs": ("batchbridge.services.logs", "LogsService"),
    "sqs": ("batchbridge.services.sqs", "SqsService"),
}


def optional_attribute(module_name: str, attribute: str) -> Any:
    """``module.attribute`` when the module exists, else ``None``.

    Only the absence of the named module itself is tolerated; an import error inside it is
    raised, so a broken module is never silently skipped.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, attribute, None)


def open_database(settings: Settings) -> Any:
    """Open the store at ``settings.db_path`` if the store package is there, else ``None``."""
    database = optional_attribute("batchbridge.store", "Database")
    if database is None:
        return None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return database.open(settings.db_path)


def build_services(settings: Settings, db: Any) -> dict[str, object]:
    """Create every service object that exists in this build, keyed by botocore service name."""
    services: dict[str, object] = {}
    for name, (module_name, class_name) in SERVICE_FACTORIES.items():
        factory = optional_attribute(module_name, class_name)
        if factory is not None and db is not None:
            services[name] = factory(db, settings)
    return services


class Application:
    """Owns the settings, the store, the services table and the background tasks."""

    def __init__(
        self,
        settings: Settings,
        *,
        services: dict[str, object] | None = None,
        open_store: bool = True,
        catalog: Catalog | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog if catalog is not None else load_catalog(SERVICE_NAMES)
        self.db: Any = open_database(settings) if open_store else None
        self.services: dict[str, object] = build_services(settings, self.db)
        if services:
            self.services.update(services)
        self.background: list[BackgroundTask] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.authenticator = Authenticator(settings.region, settings.require_auth, settings.credentials)
        self.dispatcher = Dispatcher(
            self.catalog, self.services, self.authenticator, settings.account_id, settings.access_log
        )

    def register_service(self, name: str, service: object) -> None:
        """Install (or replace) the service object answering botocore service ``name``."""
        self.services[name] = service

    def add_background_task(self, task: BackgroundTask) -> None:
        """Run ``task()`` while the application runs; it is cancelled on :meth:`stop`."""
        self.background.append(task)
        loop = _running_loop()
        if self._tasks and loop is not None:
            self._tasks.append(loop.create_task(self._supervise(task)))

    async def _supervise(self, task: BackgroundTask) -> None:
        try:
            await task()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s stopped with an error", getattr(task, "__name__", task))

    async def start(self) -> None:
        """Start every background task on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._supervise(task)) for task in self.background]

    async def stop(self) -> None:
        """Cancel the background tasks, wait for them, and close the store."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        db, self.db = self.db, None
        close = getattr(db, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result

    def service_names(self) -> list[str]:
        """The services this build answers, as shown by ``GET /health``."""
        return sorted(self.services)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
