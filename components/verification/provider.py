"""Up to 0.2 the verification was a ``pulumi.dynamic`` resource whose provider the engine pickled, by reference to
this module path, into each stack's state; refresh and destroy load the provider from there. This alias lets a
stack made by 0.2 refresh (the nightly drift check) with 0.3's code before its first `pulumi up` moves the resource
to the package's own provider. Remove it in 0.4."""

from zitadel_bootstrap.provider.verification import JwtBearerVerificationProvider

__all__ = ["JwtBearerVerificationProvider"]
