"""The package's Pulumi provider, as the engine runs it for `pulumi package add` consumers (PulumiPlugin.yaml)."""

from zitadel_bootstrap.provider.main import main

if __name__ == "__main__":
    main()
