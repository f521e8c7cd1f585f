"""storyloom: an async chat-bot plugin framework for collaborative storytelling."""

__version__ = "0.1.0"
