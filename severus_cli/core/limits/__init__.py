"""Budgets shared by the host and the relay: token buckets and per-address caps."""
