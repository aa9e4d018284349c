"""``python -m tasks``: see ``tasks.cli``."""

from .cli import main

raise SystemExit(main())
