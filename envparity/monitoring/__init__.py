"""Generated monitoring: Prometheus alert rules and Grafana dashboards, built from the metric catalogue."""
