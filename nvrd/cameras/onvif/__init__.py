"""ONVIF for the recorder: probing a camera (``probe``), its events (``events``), its PTZ
(``ptz``), on one client (``client.OnvifDevice``) over onvif-zeep-async; every failure a
``errors.CameraError`` in words.

Modules are imported by name (``from nvrd.cameras.onvif.client import OnvifDevice``): the
SOAP library is heavy, and only code that talks to cameras should load it.
"""
