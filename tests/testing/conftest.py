"""The `batchbridge` fixture of batchbridge.pytest_plugin, even without its installed entry point."""

from batchbridge.pytest_plugin import batchbridge

__all__ = ["batchbridge"]
