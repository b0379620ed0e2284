"""mobilekit: lightweight video action-recognition models, from GPU training to phones."""

__version__ = "0.1.0"
