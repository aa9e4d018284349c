"""A Redis Cluster of the tests' own: 3 masters and 3 replicas on free ports, made the way an operator makes one.

Six ``redis-server --cluster-enabled yes`` in a tmp directory, joined by ``redis-cli --cluster create ...
--cluster-replicas 1 --cluster-yes``; ``start`` returns once every node says ``cluster_state:ok`` and every
master has a replica in sync, so a test may kill a master straight away. A small ``cluster-node-timeout``
(1 s) makes a failover take a couple of seconds instead of fifteen.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

#: Milliseconds a master may be silent before its replica takes over.
NODE_TIMEOUT_MS = 1000


def cluster_tools_available() -> bool:
    """Whether ``redis-server`` and ``redis-cli`` (with ``--cluster``) are on PATH."""
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def free_cluster_ports(count: int) -> list[int]:
    """``count`` ports that are free, each with its cluster bus port (port + 10000) free as well."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port > 55_000 or port in ports or not _free(port + 10_000):
            continue
        ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class RedisCluster:
    """The servers of one cluster; ``url`` is a ``redis+cluster://`` URL naming one of them."""

    directory: Path
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout: float = 60.0) -> None:
        self.ports = free_cluster_ports(6)
        for port in self.ports:
            self._spawn(port)
        for port in self.ports:
            _wait_ping(port, timeout)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        self.wait_ok(timeout)

    def _spawn(self, port: int) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--logfile", str(node_dir / "redis.log"),
        ]  # fmt: skip
        self.processes[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def live_ports(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def masters(self) -> list[int]:
        """Ports of the live masters that serve slots, as the live nodes see them."""
        found: set[int] = set()
        for port in self.live_ports():
            nodes = _node(port).execute_command("CLUSTER NODES")  # redis-py reads it as {"host:port": {...}}
            for name, node in nodes.items():
                if "master" in node["flags"] and "fail" not in node["flags"] and node["slots"]:
                    found.add(int(name.rsplit(":", 1)[1]))
        return sorted(found & set(self.live_ports()))

    def wait_ok(self, timeout: float = 60.0) -> float:
        """Block until every live node reports ``cluster_state:ok`` with 3 serving masters; the seconds it took."""
        began = time.monotonic()
        deadline = began + timeout
        while not self._ok():
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster on ports {self.ports} not ok within {timeout} s")
            time.sleep(0.05)
        return time.monotonic() - began

    def _ok(self) -> bool:
        try:
            states = [_node(port).execute_command("CLUSTER INFO") for port in self.live_ports()]
            if not all(state.get("cluster_state") == "ok" for state in states):  # redis-py reads it as a dict
                return False
            return len(self.masters()) == 3 and self._replicas_synced()
        except redis.RedisError:
            return False

    def _replicas_synced(self) -> bool:
        """Every live replica has finished its first sync (``master_link_status:up``)."""
        for port in self.live_ports():
            info = _node(port).info("replication")
            if info.get("role") == "slave" and info.get("master_link_status") != "up":
                return False
        return True

    def kill(self, port: int) -> None:
        """SIGKILL one node: what a crashed machine looks like to the others."""
        process = self.processes[port]
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _node(port: int) -> redis.Redis:
    return redis.Redis(port=port, decode_responses=True, socket_connect_timeout=0.5, socket_timeout=2)


def _wait_ping(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    client = _node(port)
    while True:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer on port {port}")
        time.sleep(0.02)
