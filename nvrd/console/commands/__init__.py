"""The console's commands, one module per area; each lists its commands in ``COMMANDS``
and ``all.py`` gathers them."""
