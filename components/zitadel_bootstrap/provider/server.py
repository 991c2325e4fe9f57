"""The package's Pulumi provider: the ServiceAccount component for every language, and its custom resources.

One process serves two kinds of request:

- ``Construct`` (a YAML, TypeScript or Go program declares a ServiceAccount): Pulumi's component host builds the
  component here, from the schema it infers from ``ServiceAccountArgs`` (``pulumi.provider``'s servicer).
- ``Check``/``Diff``/``Create``/``Read``/``Update``/``Delete`` of the component's own custom resources, the
  verification and the key schedule, whichever language declared the component. Each resource type has a handler
  with ``pulumi.dynamic``'s methods on plain values; this module converts between those values and the engine's
  protobuf, keeps secrets secret and turns a handler's error into a clean failure of that resource.

So a program needs no Python set-up of its own for the package's resources: the engine starts this provider
(``pulumi-resource-zitadel-bootstrap``, or the package folder's PulumiPlugin.yaml) as it starts any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Mapping
from typing import Any

import grpc  # type: ignore[import-untyped]  # grpcio ships no type hints (types-grpcio is not a dependency)
import grpc.aio  # type: ignore[import-untyped]
from google.protobuf import empty_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, provider_pb2_grpc

from zitadel_bootstrap import __version__
from zitadel_bootstrap.component import RESOURCE_TYPE as SERVICE_ACCOUNT_TYPE
from zitadel_bootstrap.component import ServiceAccount, ServiceAccountInputError
from zitadel_bootstrap.key_schedule import resource as key_schedule
from zitadel_bootstrap.provider import verification

PACKAGE = "zitadel-bootstrap"
#: Outputs that are secret whatever their input was: the key file.
ALWAYS_SECRET = frozenset({"key_json"})


def handlers() -> dict[str, ResourceProvider]:
    """The custom resource types this provider serves, each with its handler."""
    return {
        verification.RESOURCE_TYPE: verification.JwtBearerVerificationProvider(),
        key_schedule.RESOURCE_TYPE: key_schedule.KeyRotationProvider(),
    }


def package_schema(inferred: str) -> str:
    """The inferred schema, with the key file output marked secret (the analyzer does not mark any)."""
    schema = json.loads(inferred)
    account = schema.get("resources", {}).get(SERVICE_ACCOUNT_TYPE, {})
    if "keyJson" in account.get("properties", {}):
        account["properties"]["keyJson"]["secret"] = True
    return json.dumps(schema)


def _resource_type(urn: str) -> str:
    """The last type of a URN's type chain (``urn:pulumi:stack::project::parent$type::name``)."""
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) > 3 else ""


def _secret_keys(values: Mapping[str, Any]) -> set[str]:
    return {key for key, value in values.items() if rpc.is_rpc_secret(value)}


async def _encode(values: Mapping[str, Any], secret: set[str]) -> Any:
    """Plain values to the engine's protobuf; the named top-level values go as secrets."""
    wrapped = {
        key: rpc.wrap_rpc_secret(value) if key in secret and not rpc.is_rpc_secret(value) else value
        for key, value in values.items()
    }
    return await rpc.serialize_properties(wrapped, {})


def _decode(struct: Any) -> dict[str, Any]:
    return rpc.deserialize_properties(struct, keep_unknowns=True) if struct is not None else {}


class PackageServicer(ProviderServicer):
    """Pulumi's component servicer, plus the lifecycle of the package's custom resources."""

    def __init__(self, args: list[str], engine_address: str) -> None:
        component_provider = ComponentProvider([ServiceAccount], PACKAGE, None, __version__)
        component_provider.schema = package_schema(component_provider.schema or "{}")
        super().__init__(component_provider, args, engine_address)
        self.handlers = handlers()

    async def _handler(self, urn: str, context: Any) -> ResourceProvider:
        handler = self.handlers.get(_resource_type(urn))
        if handler is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{PACKAGE} has no resource type for {urn}")
        return handler  # type: ignore[return-value]

    async def _warn(self, urn: str, message: str) -> None:
        """A warning of this run on the resource, through the engine's log, as any provider logs.

        Logged when a check finds it, so it is printed in the run where it is true. Kept in state and logged by
        the program, it was printed again by every later run, long after the rotation it described.
        """
        if not self.engine_address:
            return
        async with grpc.aio.insecure_channel(self.engine_address) as channel:
            await engine_pb2_grpc.EngineStub(channel).Log(
                engine_pb2.LogRequest(severity=engine_pb2.WARNING, message=message, urn=urn)
            )

    @staticmethod
    async def _fail(context: Any, urn: str, error: Exception) -> None:
        # The handler's message names the account, the ids and the fix, and never holds key or token text; the
        # traceback through the gRPC plumbing would only bury it.
        name = urn.split("::")[-1]
        await context.abort(grpc.StatusCode.UNKNOWN, f"{name}: {error}")

    async def Construct(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            return await self._construct(request, context)
        except ComponentInitError as error:
            if isinstance(error.inner, ServiceAccountInputError):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error.inner))
            raise error.inner from None

    async def CheckConfig(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        # The provider has no configuration of its own: the stack config of the program's namespace is not ours.
        return proto.CheckResponse(inputs=request.news)

    async def DiffConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        return proto.DiffResponse(changes=proto.DiffResponse.DIFF_NONE)

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802
        handler = await self._handler(request.urn, context)
        news = _decode(request.news)
        try:
            result = handler.check(_decode(request.olds), news)
        except Exception as error:
            await self._fail(context, request.urn, error)
        failures = [proto.CheckFailure(property=f.property, reason=f.reason) for f in result.failures or []]
        checked = result.inputs if result.inputs is not None else news
        warning = checked.get(key_schedule.REASON)
        if isinstance(warning, str) and warning:
            await self._warn(request.urn, warning)
        inputs = await _encode(checked, set())
        return proto.CheckResponse(inputs=inputs, failures=failures)

    async def Diff(self, request: Any, context: Any) -> Any:  # noqa: N802
        handler = await self._handler(request.urn, context)
        try:
            result = handler.diff(request.id, _decode(request.olds), _decode(request.news))
        except Exception as error:
            await self._fail(context, request.urn, error)
        changes = {
            True: proto.DiffResponse.DIFF_SOME,
            False: proto.DiffResponse.DIFF_NONE,
            None: proto.DiffResponse.DIFF_UNKNOWN,
        }[result.changes]
        return proto.DiffResponse(
            changes=changes,
            replaces=list(result.replaces or []),
            stables=list(result.stables or []),
            deleteBeforeReplace=bool(result.delete_before_replace),
        )

    async def Create(self, request: Any, context: Any) -> Any:  # noqa: N802
        handler = await self._handler(request.urn, context)
        props = _decode(request.properties)
        try:
            result = await asyncio.to_thread(handler.create, props)
        except Exception as error:
            await self._fail(context, request.urn, error)
        outs = await _encode(result.outs or {}, _secret_keys(props) | ALWAYS_SECRET)
        return proto.CreateResponse(id=result.id, properties=outs)

    async def Read(self, request: Any, context: Any) -> Any:  # noqa: N802
        handler = await self._handler(request.urn, context)
        props = _decode(request.properties)
        try:
            result = await asyncio.to_thread(handler.read, request.id, props)
        except Exception as error:
            await self._fail(context, request.urn, error)
        outs = await _encode(result.outs or {}, _secret_keys(props) | ALWAYS_SECRET)
        return proto.ReadResponse(id=result.id or request.id, properties=outs, inputs=request.inputs)

    async def Update(self, request: Any, context: Any) -> Any:  # noqa: N802
        handler = await self._handler(request.urn, context)
        news = _decode(request.news)
        try:
            result = await asyncio.to_thread(handler.update, request.id, _decode(request.olds), news)
        except Exception as error:
            await self._fail(context, request.urn, error)
        outs = await _encode(result.outs or {}, _secret_keys(news) | ALWAYS_SECRET)
        return proto.UpdateResponse(properties=outs)

    async def Delete(self, request: Any, context: Any) -> Any:  # noqa: N802
        handler = await self._handler(request.urn, context)
        try:
            await asyncio.to_thread(handler.delete, request.id, _decode(request.properties))
        except Exception as error:
            await self._fail(context, request.urn, error)
        return empty_pb2.Empty()


def serve(args: list[str]) -> None:
    """Serve on a free 127.0.0.1 port and print it, as the engine expects of a provider plugin."""
    engine_address = next((arg for arg in args if not arg.startswith("-")), "")

    async def run() -> None:
        server = grpc.aio.server()
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(PackageServicer(args, engine_address), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
