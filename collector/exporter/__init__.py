"""Prometheus exporters of the collector: ingest counters, parity verdicts, traffic, freshness and GPU series."""
