"""batchbridge.domain."""
