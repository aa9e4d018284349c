"""``make mutants``: small bugs planted one at a time in a copy of the repository; the tests must catch each."""
