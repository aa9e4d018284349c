"""Workflows: chains (steps one after another) and batches (members side by side, with callbacks).

Every member's outcome moves its workflow in the same atomic transition that records the outcome
(``Backend.complete_member`` / ``fail_member``), so a worker killed at any point never loses a step nor fires a
callback twice. The public API (``tasks.chain``, ``tasks.batch``, ``find_batch``, ``find_chain``) is in
``api.py``; this package's ``__init__`` imports nothing, so the backends may use its records.
"""
