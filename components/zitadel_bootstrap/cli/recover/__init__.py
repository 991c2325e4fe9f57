"""Recovery of a stack after an interrupted or failed `pulumi up`: `zitadel-bootstrap recover --stack <name>`.

=================  ==================================================================================================
``model``          what it reasons about: the state, what ZITADEL holds, the actions (frozen dataclasses)
``stackstate``     the checkpoint from `pulumi stack export`, and the stack lock a dead run left (pure)
``plan``           what to look for and what to do: adopt, delete, clear, leave (pure; the rules are in its docstring)
``zitadel_api``    ZITADEL's management and admin REST API with the provider's admin key (JWT bearer)
``pulumi_ops``     the `pulumi` commands it runs: export, config get, import, refresh, cancel
``cli``            the command: read, look, decide, print one line per object, apply
=================  ==================================================================================================
"""
