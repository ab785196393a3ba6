"""The audit sequencer: chains audit.entries.v1 into audit.log.v1 (docs/audit.md)."""
