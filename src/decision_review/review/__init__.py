"""The review workflow: the queue, claims with leases, decisions with reasons, overrides, four-eyes."""
