"""batchbridge.api."""
