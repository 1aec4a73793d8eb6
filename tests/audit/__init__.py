"""Tests of the audit log: the chain, appends, verification, tampering, exports, crash safety."""
