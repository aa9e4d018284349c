"""Job control and observability: progress, cancel and abort, lifecycle middleware, metrics and their exposition.

``series`` is pure (metric fields, buckets, time windows); ``progress`` and ``middleware`` run inside workers and
producers; ``prometheus`` needs the ``metrics`` extra and is imported only by those who serve metrics.
"""
