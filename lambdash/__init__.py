"""lambdash: a shell inside AWS Lambda."""

__version__ = "0.1.0"
