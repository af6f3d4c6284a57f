"""``tidings admin probe`` against a real server process: it registers its two
users once, logs in on later runs, measures a delivery, and answers with the
exit status a monitor reads (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tidings.testing import free_port

from .test_crash import ServerProcess

PASSWORD = "probe password 123"


async def probe(*args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "admin", "probe", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode().strip()


async def test_probe_reports_delivery_and_failures(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", None, tmp_path / "server.log")
    try:
        await server.start()
        url = f"http://127.0.0.1:{server.port}"
        for _ in range(2):  # registers, then logs in
            status, out = await probe("--url", url, "--password", PASSWORD)
            assert (status, out.split(" in ")[0]) == (0, "OK: delivered"), out
        status, out = await probe("--url", url, "--password", PASSWORD, "--warn", "1e-9")
        assert status == 1 and out.startswith("WARNING: delivered in"), out
        status, out = await probe("--url", url, "--password", "not the probe password")
        assert (status, out) == (2, "CRITICAL: ProbeFailed: tidings_probe_a: wrong "
                                    "probe_password")
        status, out = await probe("--url", url)
        assert status == 3 and out.startswith("UNKNOWN: no probe password"), out
    finally:
        await server.stop()
    status, out = await probe("--url", f"http://127.0.0.1:{free_port()}", "--password",
                              PASSWORD, "--timeout", "2")
    assert status == 2 and out.startswith("CRITICAL: ConnectionLost"), out
