"""Healthcheck of the CQL stand-in: an OPTIONS request (protocol v4) answered with SUPPORTED."""

import socket
import struct
import sys

OPTIONS, SUPPORTED = 0x05, 0x06

with socket.create_connection(("127.0.0.1", 9042), timeout=2) as conn:
    conn.sendall(struct.pack(">BBhBi", 0x04, 0, 0, OPTIONS, 0))
    header = conn.recv(9)
sys.exit(0 if len(header) == 9 and header[4] == SUPPORTED else 1)
