"""Observability: Prometheus metrics (read at scrape time where possible) and health.

Floor: above the base. May import: the store, errors, metricset, _version.
"""
