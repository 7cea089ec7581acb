"""``policykit collect``: fetch an environment export folder from Microsoft's APIs (docs/collect.md)."""
