"""Security tests share the API tests' server fixtures (fast password hashing, no media workers)."""

from tests.api.conftest import fast_passwords, make_server, server, shared_tls_context

__all__ = ["fast_passwords", "make_server", "server", "shared_tls_context"]
