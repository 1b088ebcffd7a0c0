"""batchbridge.functions."""
