"""config/gunicorn.conf.py: each worker listens on its own socket, and a taken address is refused.

The workers use SO_REUSEPORT (the kernel spreads connections across them); with it, a second
server started by the same user on the same port would bind without an error and quietly take
part of the traffic. The config's ``on_starting`` hook refuses to start instead.
"""

from __future__ import annotations

import runpy
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def gunicorn_on(port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(GUNICORN), "config.wsgi:application", "--config", "config/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )


def test_the_workers_listen_on_sockets_of_their_own():
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))["reuse_port"] is True


def test_a_server_refuses_to_start_on_an_address_another_server_listens_on():
    with socket.socket() as other:
        # Another server, itself on SO_REUSEPORT: the case where binding alone would succeed.
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]

        started = gunicorn_on(port)

    assert started.returncode != 0
    assert f"127.0.0.1:{port} is in use by another server" in started.stdout + started.stderr
    assert "Booting worker" not in started.stdout + started.stderr
