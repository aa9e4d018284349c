"""The ceiling: redis-py alone, LPUSH of a payload as large as a job's, one round trip at a time and pipelined."""

from __future__ import annotations

import argparse
import json
import sys
import time

import redis

#: About the size of one of our envelopes for a one-argument job.
PAYLOAD = "x" * 230
#: Commands per pipeline in the pipelined run.
BATCH = 1000


def one_at_a_time(r: redis.Redis, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        r.lpush("bench:raw", PAYLOAD)
    return n / (time.perf_counter() - started)


def pipelined(r: redis.Redis, n: int) -> float:
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        pipe = r.pipeline(transaction=False)
        for _ in range(start, min(n, start + BATCH)):
            pipe.lpush("bench:raw", PAYLOAD)
        pipe.execute()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["rtt", "pipelined"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    r = redis.Redis.from_url(args.url)
    r.flushdb()
    rate = one_at_a_time(r, args.n) if args.mode == "rtt" else pipelined(r, args.n)
    r.flushdb()
    sys.stdout.write(json.dumps({"rate": rate}) + "\n")


if __name__ == "__main__":
    main()
