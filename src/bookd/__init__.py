"""bookd: a self-hosted booking service."""

__version__ = "0.1.0"
