"""``python -m batchbridge`` runs the ``batchbridge`` command."""

from batchbridge.cli.main import main

raise SystemExit(main())
