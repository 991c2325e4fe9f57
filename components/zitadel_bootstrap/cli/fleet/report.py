"""The fleet's one report: a table for people, the same as JSON for machines, and the exit code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from zitadel_bootstrap.cli.engine import EXIT_DRIFT, EXIT_FAILED

from .runner import DRIFT, DROPPED, FAILED, OrgResult

#: The order results are counted in the summary line.
RESULTS = ("ok", "drift", "failed", "dropped", "destroyed", "absent")


def exit_code(action: str, results: Sequence[OrgResult]) -> int:
    """1 when an org failed; else 7 when a drift check found drift (or an org dropped from the fleet file whose
    stack still holds its accounts); else 0."""
    kinds = {r.result for r in results}
    if FAILED in kinds:
        return EXIT_FAILED
    if action == "drift-check" and kinds & {DRIFT, DROPPED}:
        return EXIT_DRIFT
    return 0


def document(
    fleet: str, action: str, shard: str | None, results: Sequence[OrgResult], seconds: float
) -> dict[str, Any]:
    counts = Counter(r.result for r in results)
    return {
        "fleet": fleet,
        "action": action,
        "shard": shard,
        "exitCode": exit_code(action, results),
        "seconds": round(seconds, 1),
        "counts": {kind: counts.get(kind, 0) for kind in RESULTS},
        "orgs": [r.as_json() for r in results],
    }


def summary_line(report: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in report["counts"].items() if n)
    shard = f", shard {report['shard']}" if report["shard"] else ""
    return (
        f"fleet {report['fleet']}, {report['action']}{shard}: {len(report['orgs'])} org(s): {counts or 'none'} "
        f"in {report['seconds']:.1f} s (exit {report['exitCode']})"
    )


def table(report: dict[str, Any], width: int = 110) -> str:
    """One row per org: org, stack, result, seconds and, for an org that did not end well, why (shortened; the
    JSON report and the org's log hold it whole)."""
    rows = [("ORG", "STACK", "RESULT", "SECONDS", "REASON")]
    for org in report["orgs"]:
        rows.append((org["org"], org["stack"], org["result"], f"{org['seconds']:.1f}", org["reason"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [summary_line(report)]
    for row in rows:
        head = "  ".join(
            cell.rjust(widths[i]) if i == 3 and row is not rows[0] else cell.ljust(widths[i])
            for i, cell in enumerate(row[:4])
        )
        reason = row[4]
        room = max(20, width - len(head) - 2)
        lines.append(f"{head}  {reason if len(reason) <= room else reason[: room - 3] + '...'}".rstrip())
    logs = [org["log"] for org in report["orgs"] if org["result"] in (FAILED, DRIFT) and org["log"]]
    if logs:
        lines.append("logs of the orgs that did not end well: " + " ".join(logs))
    return "\n".join(lines)
