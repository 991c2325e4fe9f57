"""`zitadel-bootstrap fleet`: one Pulumi stack per org, run side by side, with one report (docs/fleet.md)."""
