"""batchbridge.services."""
