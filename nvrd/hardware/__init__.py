"""The daemon's side of the hardware: runs the HAL's devices (``hal/``) for the recorder —
alarm inputs and relays, PoE ports, the front panel and its buttons, the RS-485 PTZ
domes and the disk pieces the drive bays (``nvrd/storage/bays.py``) use.

``hal`` knows the hardware and nothing of the recorder; this package knows what the
recorder wants from it (the installer's settings, audit entries, panel lamps that follow
the recording state) and nothing of registers or ioctls.
"""
