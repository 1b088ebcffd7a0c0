"""The application: settings, the store, the services and the background tasks, in one object.

:class:`Application` is built the same way whether it runs inside a test (a thread with its own
event loop, see :class:`batchbridge.server.ThreadedServer`) or as ``batchbridge server`` in its
own process.  Everything the HTTP layer and the background tasks share hangs off it:

* ``settings``: the frozen :class:`~batchbridge.config.Settings`;
* ``db``: the store, ``Database.open(settings.db_path)`` (``None`` with ``open_store=False``,
  for wire-layer tests that bring their own services);
* ``parts``: every part built from the store (:class:`batchbridge.assembly.Parts`): the services,
  the job engine with its executor, the Lambda runtime and the EventBridge dispatcher;
* ``services``: the services table keyed by botocore service name (``"batch"``, ``"events"``,
  ``"logs"``, ``"lambda"``, ``"sqs"``);
* ``background``: coroutine functions started with the server and cancelled on shutdown (the
  job engine and event delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from batchbridge.api.auth import Authenticator
from batchbridge.api.catalog import SERVICE_NAMES, Catalog, load_catalog
from batchbridge.api.handler import Dispatcher
from batchbridge.assembly import Parts
from batchbridge.config import Settings
from batchbridge.store.db import Database

log = logging.getLogger("batchbridge.app")

BackgroundTask = Callable[[], Awaitable[None]]


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
        self.endpoint_url = ""
        self.db: Database | None = None
        self.parts: Parts | None = None
        self.services: dict[str, object] = {}
        self.background: list[BackgroundTask] = []
        if open_store:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.db = Database.open(settings.db_path)
            self.parts = Parts(self.db, settings)
            self.services.update(self.parts.services())
            self.background += [self.parts.engine.run, self.parts.eventbridge.dispatcher.run]
        if services:
            self.services.update(services)
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

    def listening(self, endpoint_url: str) -> None:
        """Called once the server is bound: the parts learn the endpoint clients use."""
        self.endpoint_url = endpoint_url
        if self.parts is not None:
            self.parts.listening(endpoint_url)

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
        if self.parts is not None:
            await self.parts.close()
        db, self.db = self.db, None
        if db is not None:
            db.close()

    def service_names(self) -> list[str]:
        """The services this build answers, as shown by ``GET /health``."""
        return sorted(self.services)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
