"""The AWS Batch service (botocore service name ``batch``).

:class:`BatchService` is a thin composition of mixins, one per half of the API; each public method
is one AWS operation with the service contract's signature ``(ctx, params) -> dict``.

Extension point: the job operations (SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob)
live in ``BatchJobsMixin`` in :mod:`batchbridge.services.batch_jobs`; compose it by adding it to
the bases of :class:`BatchService`, before :class:`BatchResourcesMixin` so that its overrides of
the resource mixin's hooks win::

    class BatchService(BatchJobsMixin, BatchResourcesMixin): ...

The hooks it may override are :meth:`BatchResourcesMixin._job_exists` (TagResource on job ARNs)
and :meth:`BatchResourcesMixin._on_job_queue_deleted` (terminate a deleted queue's jobs).  Both
halves read ``self.db`` and ``self.settings``.
"""

from __future__ import annotations

from batchbridge.config import Settings
from batchbridge.services.batch_jobs import BatchJobsMixin
from batchbridge.services.batch_resources import BatchResourcesMixin
from batchbridge.store.db import Database


class BatchService(BatchJobsMixin, BatchResourcesMixin):
    """AWS Batch over one :class:`Database`; see the module docstring for how jobs are added."""

    service_name = "batch"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
