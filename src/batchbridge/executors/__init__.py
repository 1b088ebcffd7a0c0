"""batchbridge.executors."""
