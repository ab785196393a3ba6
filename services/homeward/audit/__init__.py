"""The tamper-evident record of who did what: entries (record.py), the hash
chain and its signed checkpoints, the writer and the verifier."""

from homeward.audit.record import AuditEntry, Auditor, AuditOutcome, MemoryAuditor

__all__ = ["AuditEntry", "AuditOutcome", "Auditor", "MemoryAuditor"]
