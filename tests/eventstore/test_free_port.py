"""free_port picks a port no outgoing connection can be given meanwhile: below the kernel's ephemeral
range, from which every outgoing TCP connection of the machine takes its local port (a metrics port
picked there could be taken before its service bound it, and the service then failed to start)."""

from __future__ import annotations

import socket
from pathlib import Path

from ombudsman.eventstore.embedded import free_port


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(20000 <= p < low for p in ports), ports
    assert len(set(ports)) > 40  # random, so that two processes picking at once rarely meet
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports[-1]))
        server.listen()
        with socket.create_connection(("127.0.0.1", ports[-1]), timeout=5) as client:
            assert client.getpeername()[1] == ports[-1]
