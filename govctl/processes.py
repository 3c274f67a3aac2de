"""Starting, probing and stopping the service processes and the local infrastructure.

Used by `govctl run` and by the end-to-end and fault tests, so what the tests exercise
is exactly what a person runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SERVICES: dict[str, int] = {
    "intake": 8101,
    "dedup": 8102,
    "dispatch": 8103,
    "supervision": 8104,
    "projections": 8105,
    "portal": 8100,  # the web pages, and one origin in front of the APIs above
}


def infra(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run deploy/local/<script>.sh and return its stdout (raises on failure)."""
    result = subprocess.run(
        ["bash", str(REPO / "deploy" / "local" / f"{script}.sh"), *args],
        check=True, capture_output=True, text=True, env={**os.environ, **(env or {})},
    )
    return result.stdout.strip()


def postgres_roles(env: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The local cluster's owner URL (for migrations only) and the services' database
    settings: the runtime roles, on a schema the owner migrated."""
    def url(role: str) -> str:
        return infra("postgres", "url", role, env=env)

    return url("owner"), {"DATABASE_URL": url("service"),
                          "GOV_DATABASE_WRITER_URL": url("projector"),
                          "GOV_DATABASE_MIGRATED": "true"}


def migrate(owner_url: str, env: dict[str, str], names: tuple[str, ...] = ()) -> None:
    """`python -m govctl.migrate` as the owner: what must run before the services start."""
    result = subprocess.run(
        [sys.executable, "-m", "govctl.migrate", *names], cwd=REPO, capture_output=True,
        text=True, env={**os.environ, **env, "GOV_DATABASE_OWNER_URL": owner_url})
    if result.returncode != 0:
        raise RuntimeError(f"migration failed:\n{result.stdout}{result.stderr}")


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_dir: Path
    instance: str = ""  # for several instances of one service
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def label(self) -> str:
        return f"{self.name}{self.instance}"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{self.label}.log").open("ab")
        env = {**os.environ, **self.env, "GOV_HTTP_PORT": str(self.port)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; "
                                   f"see {self.log_dir / (self.label + '.log')}")
            try:
                if httpx.get(f"{self.url}/internal/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.label} not ready after {timeout}s")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 20) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Stack:
    """The five services on one broker and one database (or SQLite files)."""

    env: dict[str, str]
    log_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    # Set (two roles): migrate as the owner first; the services get only `env`'s roles.
    owner_url: str | None = field(default=None, repr=False)
    read_models: tuple[str, ...] = ("projections",)  # to migrate, e.g. a rebuild's target
    migrated: bool = field(default=False, repr=False)

    def start(self, names: list[str] | None = None) -> None:
        if self.owner_url and not self.migrated:
            migrate(self.owner_url, self.env,
                    (*[n for n in SERVICES if n not in ("projections", "portal")],
                     *self.read_models))
            self.migrated = True
        for name in names or list(self.ports):
            p = ServiceProcess(name, self.ports[name], self.env, self.log_dir)
            p.start()
            self.processes[name] = p
        for name in names or list(self.ports):
            self.processes[name].wait_ready()

    def url(self, name: str) -> str:
        return self.processes[name].url if name in self.processes else \
            f"http://127.0.0.1:{self.ports[name]}"

    def stop(self) -> None:
        for p in self.processes.values():
            if p.proc and p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in self.processes.values():
            p.stop()
