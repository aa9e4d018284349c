"""Datastores behind one contract (``base.Backend``): Redis (and ``memory://`` over fakeredis)."""
