"""batchbridge.patterns."""
