"""API routes by subject; each module exports an ``ApiRegistry``."""
