"""batchbridge.store: SQLite persistence.

Public entry points: :class:`batchbridge.store.db.Database` (open, transaction, read, close),
:func:`batchbridge.store.db.compare_and_set`, and paging tokens in :mod:`batchbridge.store.paging`.
Each concept's tables live in their own module that declares ``MIGRATIONS``.
"""

from batchbridge.store.db import Database, compare_and_set

__all__ = ["Database", "compare_and_set"]
