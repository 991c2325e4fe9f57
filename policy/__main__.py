"""Entry point of the policy pack: the Python language host runs this file with ``python -m pulumi.policy``.

It runs it as a script from the pack's directory, so the repository root goes on ``sys.path`` first: the pack's
modules are the package ``policy``, as the tests and mypy import them, and ``policy.rules`` shares
``zitadel_bootstrap.limits`` with the program.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.pack import serve

serve()
