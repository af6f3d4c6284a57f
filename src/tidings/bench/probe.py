"""What this machine's floor costs: a bare system call and a loopback TCP
send, timed in the bench's own process. Figures from two machines compare
only next to these (a VM may pay 5x for a syscall what bare metal pays)."""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

ROUNDS = 200_000
SENDS = 20_000
SEND_BATCH = 200  # sends between two drains: the socket buffer never fills
PAYLOAD = b"x" * 64


@dataclass(frozen=True)
class Floor:
    syscall_us: float  # getuid(), less the loop and a C call that makes no syscall
    loopback_send_us: float  # one 64-byte send() on an established loopback TCP socket

    def line(self) -> str:
        return (f"machine floor: syscall {self.syscall_us:.2f} µs, "
                f"loopback send {self.loopback_send_us:.2f} µs")

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def _loop_seconds(fn: Any, rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return time.perf_counter() - start


def syscall_us() -> float:
    """Best of three, so a busy machine's preemptions count less."""
    best = min(_loop_seconds(os.getuid, ROUNDS)
               - _loop_seconds(sys.getrecursionlimit, ROUNDS)
               for _ in range(3))
    return max(0.0, best) * 1e6 / ROUNDS


def loopback_send_us() -> float:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        try:
            best = float("inf")
            for _ in range(3):
                spent = 0.0
                for _ in range(SENDS // SEND_BATCH):
                    start = time.perf_counter()
                    for _ in range(SEND_BATCH):
                        client.send(PAYLOAD)
                    spent += time.perf_counter() - start
                    _drain(peer, SEND_BATCH * len(PAYLOAD))
                best = min(best, spent)
            return best * 1e6 / SENDS
        finally:
            client.close()
            peer.close()


def _drain(sock: socket.socket, size: int) -> None:
    while size > 0:
        size -= len(sock.recv(size))


def measure() -> Floor:
    return Floor(syscall_us=syscall_us(), loopback_send_us=loopback_send_us())
