"""Cases: submission (one or a batch, idempotent on the caller's id), case detail, later outcomes."""
