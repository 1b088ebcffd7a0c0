"""batchbridge.bus."""
