"""The HTTP server: every AWS API and ``GET /health`` on one port, in one asyncio loop.

``batchbridge server`` runs :func:`serve` until SIGTERM or SIGINT, then shuts down cleanly: it
stops accepting connections, lets requests in flight finish, cancels the background tasks and
closes the store, and exits with status 0.  One access-log line is written per request
(method, path or ``X-Amz-Target``, status, milliseconds, request id) on the
``batchbridge.access`` logger.

:class:`ThreadedServer` runs the same application in a thread with its own event loop on a free
loopback port, for tests and benchmarks in the same process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import threading
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

import batchbridge
from batchbridge.app import Application
from batchbridge.config import Settings
from batchbridge.web.extensions import add_routes

log = logging.getLogger("batchbridge.server")

APP_KEY = web.AppKey("batchbridge", Application)

#: Largest request body accepted: a 50 MB Lambda zip travels base64-encoded (about 67 MB).
MAX_REQUEST_BYTES = 100 * 1024 * 1024


async def health(request: web.Request) -> web.Response:
    """``GET /health``: ``{"status": "ok", "version": ..., "services": [...]}``."""
    app = request.app[APP_KEY]
    document = {"status": "ok", "version": batchbridge.__version__, "services": app.service_names()}
    return web.Response(body=json.dumps(document).encode(), content_type="application/json")


def build_web_app(app: Application) -> web.Application:
    """The aiohttp application answering ``/health`` and every AWS API request."""
    web_app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    web_app[APP_KEY] = app
    web_app.router.add_get("/health", health)
    if app.db is not None:
        add_routes(web_app, app.db)
    web_app.router.add_route("*", r"/{tail:[\s\S]*}", app.dispatcher.handle)
    return web_app


class RunningServer:
    """A started server: its application, aiohttp runner and bound port."""

    def __init__(self, app: Application, runner: web.AppRunner, port: int) -> None:
        self.app = app
        self.runner = runner
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.app.settings.host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, finish requests in flight, then stop the application."""
        await self.runner.cleanup()
        await self.app.stop()


#: Longest request line or header aiohttp accepts (its default is 8190 bytes).
MAX_LINE_BYTES = 65536


class QuietHttpErrors(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's request logger, with malformed HTTP logged as one line instead of a traceback.

    aiohttp answers a request it cannot parse (an over-long line, a NUL in a header) with a
    plain 400 before any handler runs; that is the client's fault, not a server error.
    """

    def exception(self, msg: object, *args: object, exc_info: object = True, **kwargs: object) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self.logger.warning("malformed HTTP request refused: %s", exc_info.message)
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


async def start_server(app: Application, host: str | None = None, port: int | None = None) -> RunningServer:
    """Start ``app`` on ``host:port`` (port 0 picks a free one) on the running loop."""
    host = host if host is not None else app.settings.host
    port = port if port is not None else app.settings.port
    await app.start()
    runner = web.AppRunner(
        build_web_app(app),
        access_log=None,
        handle_signals=False,
        logger=QuietHttpErrors(logging.getLogger("aiohttp.server"), {}),
        max_line_size=MAX_LINE_BYTES,
        max_field_size=MAX_LINE_BYTES,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = port
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    if sockets:
        bound = int(sockets[0].getsockname()[1])
    reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    app.listening(f"http://{reachable}:{bound}")
    return RunningServer(app, runner, bound)


def configure_logging(settings: Settings) -> None:
    """Log to stderr: warnings and errors always, access lines when ``settings.access_log``."""
    root = logging.getLogger("batchbridge")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("batchbridge.access").disabled = not settings.access_log


async def serve(settings: Settings, ready: Any = None) -> None:
    """Run the server until SIGTERM or SIGINT."""
    app = Application(settings)
    server = await start_server(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "batchbridge %s listening on %s (data in %s)", batchbridge.__version__, server.url, settings.data_dir
    )
    print(f"batchbridge listening on {server.url}", flush=True)
    if ready is not None:
        ready(server)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await server.stop()


def run(settings: Settings) -> int:
    """Entry point of ``batchbridge server``: serve until signalled, exit status 0."""
    configure_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(settings))
    return 0


class ThreadedServer:
    """An :class:`Application` served from a thread with its own event loop (for tests).

    ``start()`` returns once the port is bound; ``stop()`` shuts the server down cleanly and
    joins the thread.  ``app`` is available before ``start()``, so services can be registered.
    """

    def __init__(self, settings: Settings, app: Application | None = None) -> None:
        self.settings = settings
        self.app = app if app is not None else Application(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="batchbridge-server", daemon=True)
        self._started = threading.Event()
        self._server: RunningServer | None = None
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            self._server = await start_server(self.app)
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        await self._stop.wait()
        await self._server.stop()

    def start(self, timeout: float = 30.0) -> ThreadedServer:
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("batchbridge server did not start")
        if self._error is not None:
            raise RuntimeError(f"batchbridge server failed to start: {self._error}") from self._error
        return self

    def call(self, coroutine: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
