"""digitlab: recognize handwritten digits with neural networks."""

__version__ = "0.1.0"
