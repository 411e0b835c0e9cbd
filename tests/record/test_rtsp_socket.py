"""Finding a connection's socket from /proc, against real TCP connections."""

from __future__ import annotations

import socket

from nvrd.record import rtsp_socket


def test_a_new_connection_to_an_endpoint_is_found_and_can_be_shut_down() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        remotes = rtsp_socket.resolve(("127.0.0.1", port))
        assert ("127.0.0.1", port) in remotes
        with socket.create_connection(("127.0.0.1", port)) as first:
            before = rtsp_socket.connections_to(remotes)
            with socket.create_connection(("127.0.0.1", port)) as second:
                peer, _ = server.accept()
                handle = rtsp_socket.find_new_connection(before, remotes)
                assert handle is not None and handle.fd == second.fileno()
                assert handle.shutdown()
                assert second.recv(1) == b""  # a blocked read would return end-of-stream
                first.sendall(b"x")  # the other connection to the same endpoint lives
                peer.close()
            # the descriptor is gone: shutting down again must not touch another file
            assert not handle.shutdown()


def test_endpoints_default_to_the_rtsp_ports() -> None:
    assert rtsp_socket.endpoint_of("rtsp://cam.local/stream") == ("cam.local", 554)
    assert rtsp_socket.endpoint_of("rtsps://user:pw@10.0.0.2/s") == ("10.0.0.2", 322)
    assert rtsp_socket.endpoint_of("rtsp://[::1]:8554/s") == ("::1", 8554)
