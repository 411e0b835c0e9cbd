"""The fake cameras' ONVIF side: device, media, events, PTZ and WS-Discovery (see
``__main__`` for the process, ``server`` for authorization)."""
