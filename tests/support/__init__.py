"""Helpers shared by the test suite: waiting on conditions, Redis servers of our own, worker processes."""
