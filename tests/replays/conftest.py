"""Recording tests: the API tests' server fixtures (SQLite and PostgreSQL), fast passwords."""

from __future__ import annotations

from tests.api.conftest import SETTINGS, make_server, server
from tests.api.helpers import fast_passwords, shared_tls_context

__all__ = ["SETTINGS", "fast_passwords", "make_server", "server", "shared_tls_context"]
