"""Optional integrations with web frameworks, each imported only by the projects that use it.

Each one needs its extra (``pip install 'tasks[django]'``); nothing in ``tasks`` itself imports them.
"""
