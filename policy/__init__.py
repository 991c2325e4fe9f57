"""The guardrails policy pack of zitadel-bootstrap: `pulumi preview --policy-pack policy` (see README.md here)."""
