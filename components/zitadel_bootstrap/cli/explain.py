"""Why a `zitadel-bootstrap run` command stopped, and the way out, from the diagnosis of its last run."""

from __future__ import annotations

from zitadel_bootstrap.cli.diagnosis import Diagnosis


def explain(what: str, diagnosis: Diagnosis, stack_name: str | None, *, attempts: int = 1) -> str:
    """The last `pipeline:` line of a run that failed: what happened and the way out."""
    stack = f" --stack {stack_name}" if stack_name else ""
    if diagnosis.kind == "locked":
        return (
            f"{what} was refused: another run holds the stack's lock (printed above). Wait for it to end and "
            f"rerun (or pass --lock-wait SECONDS); if no run is active (a runner was killed), remove the lock "
            f"with `pulumi cancel{stack} --yes`, then rerun"
        )
    if diagnosis.kind == "lost_create":
        accounts = diagnosis.lost_accounts()
        urns = ", ".join(diagnosis.lost_urns)
        if accounts:
            names = ", ".join(repr(a) for a in accounts)
            return (
                f"{what} failed: ZITADEL created the machine user of account(s) {names}, but did not show it yet "
                f"when the plugin read it back (its read model lags), so it is in ZITADEL and not in the stack "
                f"({urns}). A plain rerun can only meet AlreadyExists. Way out: adopt it, then run "
                f"`zitadel-bootstrap run up` again: `zitadel-bootstrap adopt-user{stack} <ACCOUNT>` "
                f"looks its id up in ZITADEL (give the id as a second argument where ZITADEL's user search is "
                f"not allowed), or `zitadel-bootstrap recover{stack or ' --stack <STACK>'} --adopt-unknown`"
            )
        return (
            f"{what} failed: ZITADEL created {urns} but did not show it yet when the plugin read it back (its "
            f"read model lags); it is in ZITADEL and not in the stack. Not retried. Way out: `pulumi import` "
            f"it by its id (see the type's import id in the plugin's docs) or remove it in ZITADEL, then rerun"
        )
    if diagnosis.kind == "already_exists":
        return (
            f"{what} failed: ZITADEL already holds an object the stack does not (an answer lost in an "
            f"earlier run, a create whose read-back met read-model lag, or one made by hand):\n"
            f"{diagnosis.error_lines()}\nNot retried. Way out: see what ZITADEL holds with "
            f"`zitadel-bootstrap recover{stack or ' --stack <STACK>'} --dry-run`; if it is the stack's own, adopt "
            f"it (`zitadel-bootstrap adopt-user{stack} <ACCOUNT>`, or `zitadel-bootstrap recover` with "
            f"--adopt-unknown), else remove it in ZITADEL or rename the account's userName; then rerun"
        )
    if diagnosis.kind == "transient":
        return (
            f"{what} still failed after {attempts} attempt(s) with transient ZITADEL errors; giving up:\n"
            f"{diagnosis.error_lines()}\nZITADEL is unavailable, rate limiting or slow: rerun the job later "
            f"(the state keeps what was done; a rerun continues from there)"
        )
    return f"{what} failed (not a transient ZITADEL error, not retried):\n{diagnosis.error_lines()}"
