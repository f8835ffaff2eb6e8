"""Observability: Prometheus metrics (read at scrape time where possible) and health."""
