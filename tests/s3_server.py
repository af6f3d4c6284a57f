"""An S3 server for tests: ``TIDINGS_TEST_S3_URL`` if set (CI starts one), else a
``moto_server`` subprocess on a free port for the session. Each test gets a
bucket of its own, created with one unsigned PUT (moto does not check
signatures), so no S3 client beyond the one under test is needed."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

S3_URL_ENV = "TIDINGS_TEST_S3_URL"
_START_TIMEOUT = 30.0


def _moto_binary() -> str:
    beside = Path(sys.executable).parent / "moto_server"
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if found is None:
        raise OSError("moto_server is not installed (pip install -e '.[dev]')")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OSError(f"moto_server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise OSError(f"moto_server did not listen on port {port} within {_START_TIMEOUT}s")


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """The base URL of an S3 server; raises OSError if none can be had."""
    url = os.environ.get(S3_URL_ENV)
    if url:
        yield url.rstrip("/")
        return
    port = _free_port()
    proc = subprocess.Popen(
        [_moto_binary(), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def create_bucket(url: str) -> str:
    name = f"tidings-test-{uuid.uuid4().hex[:16]}"
    request = urllib.request.Request(f"{url}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise OSError(f"creating bucket {name}: HTTP {response.status}")
    return name
