"""batchbridge.store."""
