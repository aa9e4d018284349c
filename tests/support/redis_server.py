"""A redis-server of the test's own, on a free port, that a test may stop, restart or kill."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server`` in ``directory`` on ``port``; ``appendonly`` keeps data across restarts."""

    def __init__(
        self, directory: Path, *, port: int | None = None, appendonly: bool = True, extra: tuple[str, ...] = ()
    ) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not on PATH")
        self.directory = directory
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra = extra  # more redis-server options, e.g. ("--requirepass", "s3cret")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        args = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
            "--daemonize", "no", "--logfile", str(self.directory / "redis.log"), *self.extra,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, password=self._password())
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)
        client.close()

    def _password(self) -> str | None:
        extra = list(self.extra)
        return extra[extra.index("--requirepass") + 1] if "--requirepass" in extra else None

    def stop(self) -> None:
        """Stop the server (SIGTERM: with AOF on, what was acknowledged is on disk)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
