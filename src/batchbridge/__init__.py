"""batchbridge: AWS Batch, EventBridge and Lambda on your own machines."""

__version__ = "0.1.0"
