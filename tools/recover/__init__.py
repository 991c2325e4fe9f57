"""0.2's `python -m tools.recover`: now `zitadel-bootstrap recover` (kept as an alias for one release)."""
