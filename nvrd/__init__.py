"""nvrd: the firmware daemon of a network video recorder."""

__version__ = "0.1.0"
