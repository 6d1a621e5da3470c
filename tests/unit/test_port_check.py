"""The free-port check of `app dev` agrees with what uvicorn can bind."""

from __future__ import annotations

import socket

from app.__main__ import port_is_free


def _port_in_time_wait() -> int:
    """A port whose only trace is a TIME-WAIT connection: the server side closed first, then stopped listening."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the side that closes first keeps the TIME-WAIT, on the server's port
        client.recv(1)
        client.close()
    return port


def test_a_port_in_time_wait_counts_as_free() -> None:
    """After a connection to the last run closed, the port is free again at once (uvicorn binds with SO_REUSEADDR).

    Without SO_REUSEADDR on the probe this answered "in use" for about a minute after any request.
    """
    assert port_is_free("127.0.0.1", _port_in_time_wait())


def test_a_live_listener_makes_the_port_busy() -> None:
    """A socket listening on the port makes the check answer "in use"."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_is_free("127.0.0.1", int(listener.getsockname()[1]))
