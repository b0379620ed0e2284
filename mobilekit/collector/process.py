"""Run `mobilekit collect` as a child process on a free loopback port and wait until it is
ready: what the load benchmark, the tests and scripts use to get a real server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import httpx

from mobilekit.errors import MobilekitError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("mobilekit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mobilekit.cli"]


class CollectorProcess:
    """`with CollectorProcess("sqlite:///x.db", token="t") as c: c.url ...`; stop() and
    start() again to restart on the same database."""

    def __init__(self, db_url: str, token: str, port: Optional[int] = None, host: str = "127.0.0.1",
                 extra_args: tuple[str, ...] = (), log_path: Optional[Path] = None):
        self.db_url, self.token, self.host = db_url, token, host
        self.port = port or free_port(host)
        self.extra_args, self.log_path = tuple(extra_args), log_path
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "CollectorProcess":
        cmd = _cli() + ["collect", "--host", self.host, "--port", str(self.port), "--db", self.db_url,
                        "--token", self.token, *self.extra_args]
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MobilekitError(f"the collector exited with {self.proc.returncode} at start",
                                     f"run `{' '.join(cmd)}` by hand to see why")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise MobilekitError(f"the collector did not answer /healthz within {timeout_s:.0f} s",
                             "the machine may be overloaded; try again")

    def stop(self, timeout_s: float = 30.0) -> None:
        """Graceful stop (SIGINT, like Ctrl+C): in-flight requests finish first."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self.proc = None

    def __enter__(self) -> "CollectorProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
