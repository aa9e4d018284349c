"""Names shared by the process tests and the module their processes import (which the test process must not)."""

#: The schedule the process tests watch (declared in ``scheduled_jobs``).
EVERY_TWO_SECONDS = "tests.every-two-seconds"
#: Exit status of a process killed by the crash hook of ``scheduled_jobs``.
CRASH_STATUS = 17
#: The schedule of the SQLite process test (declared in ``every_second``).
EVERY_SECOND = "tests.every-second"
