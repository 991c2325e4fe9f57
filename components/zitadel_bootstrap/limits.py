"""Every default and limit of the program, named once.

The stack-config validator (``zitadel_bootstrap.config``), the verifier (``zitadel_bootstrap.verification``) and the
README's stack config reference use these values, so a default or a bound changes in one place. Pure constants:
nothing here imports from ``components`` or from Pulumi, so every layer may import it.
"""

from __future__ import annotations

from typing import Final

# --- verification time budgets (seconds) ---------------------------------------------------------------------

#: How long one proof may retry lag, 5xx, 429 and timeouts (``verification.deadlineSeconds``).
DEFAULT_DEADLINE_SECONDS: Final = 60.0
#: Upper bound of every time budget of the verifier: a deadline beyond an hour hides a broken instance.
MAX_DEADLINE_SECONDS: Final = 3600.0
#: How long a refresh waits out "not found yet" answers before reporting drift (``refreshSettleSeconds``).
DEFAULT_REFRESH_SETTLE_SECONDS: Final = 5.0
#: 0 is allowed (drift is reported at once); beyond ten minutes a refresh would stall on every revoked key.
MIN_REFRESH_SETTLE_SECONDS: Final = 0.0
MAX_REFRESH_SETTLE_SECONDS: Final = 600.0
#: Per-request timeout and the retry backoff of the verifier's HTTP client.
DEFAULT_REQUEST_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_INITIAL_BACKOFF_SECONDS: Final = 0.5
DEFAULT_MAX_BACKOFF_SECONDS: Final = 5.0

# --- machine keys ----------------------------------------------------------------------------------------------

#: ZITADEL's own expiration of a key created without one; the latest date it accepts.
NO_EXPIRATION: Final = "9999-12-31T23:59:59Z"
#: ``keyLifetimeDays``: at least a day, at most a hundred years.
MIN_KEY_LIFETIME_DAYS: Final = 1
MAX_KEY_LIFETIME_DAYS: Final = 36500
#: ``rotateBeforeDays``: at least a day when set; below the lifetime, or up to this bound with keyExpiration.
MIN_ROTATE_BEFORE_DAYS: Final = 1
MAX_ROTATE_BEFORE_DAYS: Final = 36500
#: Default window: this many days before expiry, and at most a third of a lifetime (0 under three days).
DEFAULT_ROTATE_BEFORE_DAYS: Final = 30
ROTATE_BEFORE_LIFETIME_DIVISOR: Final = 3
#: ``keyGeneration``: raising it rotates the key. Bounded so it stays exact through the engine's numbers.
DEFAULT_KEY_GENERATION: Final = 0
MIN_KEY_GENERATION: Final = 0
MAX_KEY_GENERATION: Final = 1_000_000

# --- names and ids ---------------------------------------------------------------------------------------------

#: Logical names (accounts, organizations, formerNames) name Pulumi resources and stack outputs.
NAME_MAX_LENGTH: Final = 40
#: ZITADEL user names and organization names.
USER_NAME_MAX_LENGTH: Final = 200
ORG_DISPLAY_NAME_MAX_LENGTH: Final = 200
#: ZITADEL ids are decimal snowflakes (18 digits today); this bound only stops nonsense.
ID_MAX_DIGITS: Final = 32

# --- the provider --------------------------------------------------------------------------------------------

MIN_PORT: Final = 1
MAX_PORT: Final = 65535
DEFAULT_HTTPS_PORT: Final = 443
DEFAULT_HTTP_PORT: Final = 80
#: DNS: a host name of at most 253 characters, labels of at most 63.
HOST_NAME_MAX_LENGTH: Final = 253
HOST_LABEL_MAX_LENGTH: Final = 63
