"""The soak's one job: note which process ran which number (``SOAK_DIR``/<pid>), so duplicates and the spread
over processes can be counted afterwards. Results live 30 s, so Redis memory levels off once that has passed."""

from __future__ import annotations

import os

from tasks import job


@job(name="soak.tick", max_attempts=3, result_ttl=30)
def tick(n: int) -> None:
    with open(os.path.join(os.environ["SOAK_DIR"], str(os.getpid())), "a", encoding="ascii") as f:
        f.write(f"{n}\n")
