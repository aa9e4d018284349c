"""Throughput of the Redis backend on a Redis Cluster of 1, 2 and 3 shards, with queues spread over them.

Each configuration gets clusters of its own (masters only, on free ports, no persistence): N nodes joined with
CLUSTER MEET, the 16,384 slots split evenly with CLUSTER ADDSLOTSRANGE. A single plain redis-server runs the
same load for comparison. Then P client processes each own one queue (queues spread round-robin over the
shards by their slot) and run the backend's transitions at full speed: ``enqueue_many`` of the whole batch,
then ``complete_and_reserve`` of ``--batch`` jobs at a time until the queue is empty (no job code runs: this
measures the datastore's part of a job's life). Printed per configuration: jobs/s end to end, and the Redis
CPU each job costs on its shard (``used_cpu_sys`` + ``used_cpu_user`` of INFO cpu, before and after): the
per-shard capacity the projection in docs/scaling.md starts from.

    .venv/bin/python bench/cluster_shards.py                    # 1, 2, 3 shards and plain, 4 processes
    .venv/bin/python bench/cluster_shards.py --jobs 20000 --processes 6 --shards 1 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.backends.redis.cluster import ClusterBackend
from tasks.config import backend_from_url
from tasks.model import NewJob
from tests.support.redis_cluster import free_cluster_ports

SLOTS = 16_384


class Shards:
    """N redis-servers in cluster mode, each a master of an even share of the slots (N = 0: one plain server)."""

    def __init__(self, count: int, directory: Path) -> None:
        self.count, self.directory = count, directory
        self.ports = free_cluster_ports(max(count, 1))
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        scheme = "redis+cluster" if self.count else "redis"
        return f"{scheme}://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        for port in self.ports:
            node = self.directory / str(port)
            node.mkdir(parents=True)
            cluster = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"] if self.count else []
            args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node), "--save", "",
                    "--appendonly", "no", *cluster]  # fmt: skip
            self.processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        clients = [self.client(port) for port in self.ports]
        _until(lambda: all(_pings(c) for c in clients), "servers up")
        if not self.count:
            return
        for port, client in zip(self.ports, clients):
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", str(self.ports[0]))
            low = SLOTS * self.ports.index(port) // self.count
            high = SLOTS * (self.ports.index(port) + 1) // self.count - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", str(low), str(high))
        _until(lambda: all(c.cluster("info")["cluster_state"] == "ok" for c in clients), "ok")
        _until(lambda: all(len(c.cluster("nodes")) == self.count for c in clients), "met")

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True)

    def cpu_s(self) -> list[float]:
        """Redis CPU seconds (system + user) each server has used so far."""
        infos = [self.client(port).info("cpu") for port in self.ports]
        return [float(i["used_cpu_sys"]) + float(i["used_cpu_user"]) for i in infos]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _until(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"not {what} within {timeout} s")
        time.sleep(0.05)


def spread_queues(url: str, count: int, shards: int) -> list[str]:
    """``count`` queue names, round-robin over the shards' slot ranges (any names on a plain server)."""
    if not shards:
        return [f"q{i}" for i in range(count)]
    backend = backend_from_url(url, prefix="bench")
    assert isinstance(backend, ClusterBackend)
    names: list[str] = []
    i = 0
    while len(names) < count:
        name = f"q{i}"
        if backend.slot(name) * shards // SLOTS == len(names) % shards:
            names.append(name)
        i += 1
    backend.close()
    return names


def client_run(url: str, prefix: str, queue: str, jobs: int, batch: int, start: object, out: object) -> None:
    """One client process: enqueue ``jobs`` into ``queue``, then drain it through complete-and-reserve."""
    backend = backend_from_url(url, prefix=prefix)
    payload = '{"n":"noop","a":[],"k":{}}'
    made = [NewJob(uuid.uuid4().hex, queue, payload, 1, time.time(), None) for _ in range(jobs)]
    start.wait()  # type: ignore[attr-defined]
    began = time.perf_counter()
    for i in range(0, jobs, 1000):
        backend.enqueue_many(made[i : i + 1000], now=time.time())
    done, held = 0, []
    while True:
        items = [(lease, "1", 60.0) for lease in held]
        _, held = backend.complete_and_reserve(
            items, [queue], worker_id=f"bench:{queue}", now=time.time(), lease_s=60, count=batch
        )
        done += len(items)
        if not held:
            break
    out.put((done, time.perf_counter() - began))  # type: ignore[attr-defined]
    backend.close()


def run(shards: int, processes: int, jobs: int, batch: int) -> dict[str, float]:
    """One configuration's figures."""
    with tempfile.TemporaryDirectory() as tmp:
        servers = Shards(shards, Path(tmp))
        try:
            servers.start()
            queues = spread_queues(servers.url, processes, shards)
            context = multiprocessing.get_context("spawn")
            start, out = context.Event(), context.Queue()
            per = jobs // processes
            workers = [
                context.Process(target=client_run, args=(servers.url, "bench", q, per, batch, start, out))
                for q in queues
            ]
            for w in workers:
                w.start()
            time.sleep(2.0)  # every client has made its jobs and connected
            cpu_before = servers.cpu_s()
            began = time.perf_counter()
            start.set()
            results = [out.get(timeout=600) for _ in workers]
            wall = time.perf_counter() - began
            cpu = [after - before for after, before in zip(servers.cpu_s(), cpu_before)]
            for w in workers:
                w.join()
        finally:
            servers.stop()
    done = sum(r[0] for r in results)
    return {
        "shards": shards,
        "jobs": done,
        "jobs_per_s": done / wall,
        "cpu_ms_per_1000": 1000 * sum(cpu) / (done / 1000),
        "busiest_shard_cpu_share": max(cpu) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, nargs="*", default=[0, 1, 2, 3], help="0: one plain redis-server")
    parser.add_argument("--processes", type=int, default=6, help="client processes (6: an even spread on 1-3)")
    parser.add_argument("--jobs", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not on PATH")
    print(f"{args.jobs} jobs, {args.processes} client processes, batches of {args.batch}")
    print("config        jobs/s   Redis CPU ms per 1,000 jobs (all shards)   busiest shard's CPU use")
    for shards in args.shards:
        r = run(shards, args.processes, args.jobs, args.batch)
        name = f"{shards} shard(s)" if shards else "plain redis"
        print(
            f"{name:<11} {r['jobs_per_s']:>8.0f}   {r['cpu_ms_per_1000']:>38.0f}   "
            f"{100 * r['busiest_shard_cpu_share']:>22.0f} %"
        )


if __name__ == "__main__":
    main()
