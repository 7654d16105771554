"""Regression tests for holes found by the outside security probe (issue #11)."""
