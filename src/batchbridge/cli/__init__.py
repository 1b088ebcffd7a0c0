"""batchbridge.cli."""
