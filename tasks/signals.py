"""Stop signals shared by every long-running command: the first SIGTERM/SIGINT asks for a graceful stop."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tasks.worker")


def install_stop_signals(stop: Callable[[], None], *, announce: bool = True) -> None:
    """SIGTERM/SIGINT call ``stop`` (finish what runs, then exit); a second SIGINT exits at once.

    Exiting at once loses nothing: the leases of the jobs still held bring them back.
    """
    interrupts = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            if interrupts > 1:
                if announce:
                    log.warning("second interrupt: exiting now; leases will bring running jobs back")
                os._exit(130)
        if announce:
            log.info("%s received: finishing the running job, then exiting", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
