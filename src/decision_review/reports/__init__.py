"""Operational metrics: queue depth, SLA breaches, decisions by outcome, review latency, override rate."""
