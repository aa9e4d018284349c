"""Stop signals shared by every long-running command: the first SIGTERM/SIGINT asks for a graceful stop."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tasks.worker")


def install_stop_signals(
    stop: Callable[[], None],
    *,
    announce: bool = True,
    stopping: str = "finishing the running job, then exiting",
    halting: str = "exiting now; leases will bring running jobs back",
    logger: logging.Logger = log,
) -> None:
    """SIGTERM/SIGINT call ``stop`` (finish what runs, then exit); a second SIGINT exits at once.

    For a worker, exiting at once loses nothing: the leases of the jobs still held bring them back. ``stopping``
    and ``halting`` are what ``logger`` says of each (``announce=False``: nothing).
    """
    interrupts = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            if interrupts > 1:
                if announce:
                    logger.warning("second interrupt: %s", halting)
                os._exit(130)
        if announce:
            logger.info("%s received: %s", signal.Signals(signum).name, stopping)
        stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
