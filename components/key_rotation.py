"""The 0.2 module path of the key schedule's pickled ``pulumi.dynamic`` provider: see verification/provider.py
beside this file. Remove it in 0.4."""

from zitadel_bootstrap.key_schedule.resource import KeyRotationProvider

__all__ = ["KeyRotationProvider"]
