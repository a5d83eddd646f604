"""Property-based API testing: schemathesis generates requests from ``/api/v1/openapi.json`` and
sends them to a real server on loopback, authenticated with a token. No answer may be a 5xx or
break the documented schema (status codes, content types, response bodies).

Needs ``schemathesis`` (in the ``test`` extra). Bounded: a few examples per operation, well
under a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.helpers import act, member, ok

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (test extra)")

EXAMPLES = 10  # per operation and generation mode
# Generous limits: the fuzzer must reach the routes' own checks, not the rate limits.
SETTINGS = {"rate_room_create": "100000/1", "rate_hand_raise": "100000/1",
            "rate_invite_create": "100000/1", "rate_token_create": "100000/1",
            "rate_signup": "100000/1", "rate_signin": "100000/1", "rate_invite_check": "100000/1",
            "rate_ping": "100000/1", "lockout_failures_per_address": 100000,
            "max_rooms_per_user": 100000, "invite_quota": 100000}
# Operations that would cut the test's own credentials off; the matrix test covers them.
SKIP = {("DELETE", "/api/v1/tokens/{token_id}"), ("POST", "/api/v1/auth/signout")}
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance")


def run_schemathesis(base_url: str, token: str, room_id: str) -> tuple[int, list[str]]:
    """Blocking: run every operation's generated cases; the number run and the failures."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import CHECKS as REGISTRY
    from schemathesis.checks import load_all_checks
    from schemathesis.core.failures import FailureGroup

    load_all_checks()
    checks = REGISTRY.get_by_names(list(CHECKS))
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        # Half the cases aim at a live room, so room routes get past "no such room".
        fixed = {"room_id": room_id} if "{room_id}" in operation.path else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed) \
                if fixed and mode is GenerationMode.POSITIVE else \
                operation.as_strategy(generation_mode=mode)

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case: Any) -> None:
                nonlocal count
                count += 1
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                try:
                    case.validate_response(response, checks=checks, headers=headers)
                except (AssertionError, FailureGroup) as exc:  # collect them all, report at end
                    failures.append(f"{case.method.upper()} {case.operation.path} -> "
                                    f"{response.status_code}: {exc!s:.300}")

            try:
                check()
            except Unsatisfiable:
                pass  # nothing to make invalid (e.g. negative cases of a parameterless GET)
            except Exception as exc:  # noqa: BLE001 - e.g. a strategy schemathesis cannot build
                failures.append(f"{operation.method.upper()} {operation.path}: {exc!r}"[:400])
    return count, failures


async def test_schemathesis_finds_no_server_errors_or_schema_violations(
        make_server: Callable[..., Any]) -> None:
    async with make_server(**SETTINGS) as server:
        alice = await member(server, "alice", admin=True)
        room = ok(await alice.http.post("/rooms", json={"title": "Fuzzed"}), 201)["id"]
        ok(await act(alice, room, "join"))
        count, failures = await asyncio.wait_for(
            asyncio.to_thread(run_schemathesis, server.url, alice.token, room), 110)
        print(f"schemathesis: {count} cases run")
        unique = sorted(set(failures))
        assert not unique, f"{len(unique)} schemathesis failures:\n" + "\n".join(unique[:60])
        assert count >= 200
