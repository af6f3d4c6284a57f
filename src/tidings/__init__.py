"""tidings: an instant-messaging backend with permanent structure, gap-free
pts sync and an honest media lifecycle."""

__version__ = "0.1.0"
