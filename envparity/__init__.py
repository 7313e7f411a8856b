"""envparity: does staging behave like production? The composition root and command line."""

__version__ = "0.1.0"
