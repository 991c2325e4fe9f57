"""ZITADEL's REST gateway omits empty lists: a search that finds nothing answers ``{}``, which is an empty result."""

from __future__ import annotations

import httpx
import pytest
from zitadel_bootstrap.verification.api import read_memberships_page, read_permissions
from zitadel_bootstrap.verification.classify import StepError
from zitadel_bootstrap.verification.errors import KIND_BAD_RESPONSE


def test_an_empty_permissions_answer_is_no_permission_not_a_malformed_list() -> None:
    # An admin key with no rights at all gets `{}` from /auth/v1/permissions/zitadel/me/_search.
    assert read_permissions(httpx.Response(200, json={}), what="permissions", org_id="1", now=0.0) == frozenset()


def test_an_empty_memberships_answer_is_no_membership() -> None:
    assert read_memberships_page(httpx.Response(200, json={}), what="memberships", now=0.0) == ([], None)


@pytest.mark.parametrize("body", [{"result": "org.read"}, {"result": [1]}, []])
def test_a_result_that_is_not_a_list_of_names_is_still_refused(body: object) -> None:
    with pytest.raises(StepError) as refused:
        read_permissions(httpx.Response(200, json=body), what="permissions", org_id="1", now=0.0)
    assert refused.value.kind == KIND_BAD_RESPONSE
