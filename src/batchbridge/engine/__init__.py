"""batchbridge.engine."""
