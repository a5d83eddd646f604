"""`podium serve` says so when it binds beyond loopback over plain HTTP: browsers elsewhere
could then listen but never speak (getUserMedia needs a secure context)."""

from __future__ import annotations

import pytest

from podium.cli.main import plain_http_warning


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "podium.example.org"])
def test_plain_http_beyond_loopback_is_warned_about(host: str) -> None:
    warning = plain_http_warning(host, f"http://{host}:8000")
    assert warning is not None and "HTTPS" in warning and "PODIUM_PUBLIC_URL" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_is_a_secure_context_already(host: str) -> None:
    assert plain_http_warning(host, f"http://{host}:8000") is None


def test_a_tls_proxy_in_front_silences_it() -> None:
    assert plain_http_warning("0.0.0.0", "https://podium.example.org") is None
