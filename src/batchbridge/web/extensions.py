"""batchbridge's own read-only endpoints, beside the AWS APIs, under ``/_batchbridge/``.

AWS has no API that returns the events a job produced; batchbridge keeps them (the outbox) and
serves them so that ``batchbridge explain --rule R --job J`` can test a rule against the very
events the job emitted:

* ``GET /_batchbridge/jobs/{jobId}/events`` -> ``{"events": [<Batch Job State Change>, ...]}``
  in the order they were written (an unknown job gives an empty list).
"""

from __future__ import annotations

import json

from aiohttp import web

from batchbridge.store.db import Database
from batchbridge.store.outbox import events_for_job

DB_KEY = web.AppKey("batchbridge_db", Database)


async def job_events(request: web.Request) -> web.Response:
    db = request.app[DB_KEY]
    with db.read() as conn:
        events = events_for_job(conn, request.match_info["job_id"])
    return web.Response(body=json.dumps({"events": events}).encode(), content_type="application/json")


def add_routes(web_app: web.Application, db: Database) -> None:
    """Install the extension routes; they must come before the catch-all AWS route."""
    web_app[DB_KEY] = db
    web_app.router.add_get("/_batchbridge/jobs/{job_id}/events", job_events)
