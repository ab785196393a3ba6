"""The agency gateway (its own process): see docs/gateway.md."""
