"""batchbridge.web."""
