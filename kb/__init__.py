"""aiwatch: a self-hosted knowledge base of AI news and policy."""

__version__ = "0.1.0"
