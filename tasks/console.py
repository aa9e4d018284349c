"""What the library's processes print: never an error because some text is not valid UTF-8.

A damaged record may carry bytes that are not UTF-8 (its id, its payload, a message); they are read as
surrogate escapes so that nothing fails to read them, and printed here escaped (``\\udcff``) so that nothing
fails to show them: not a ``failed`` listing, not a worker's log line.
"""

from __future__ import annotations

import contextlib
import sys


def tolerant_output() -> None:
    """Make stdout and stderr escape what they cannot encode instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")
