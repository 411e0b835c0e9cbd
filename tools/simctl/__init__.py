"""``simctl``: poke the simulated board of a running daemon (see ``hal/sim/control.py``)."""
