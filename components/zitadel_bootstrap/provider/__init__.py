"""The package's Pulumi provider: the verification resource (``verification``), the server that serves the
ServiceAccount component and the package's custom resources to every language (``server``), its entry point
(``main``)."""
