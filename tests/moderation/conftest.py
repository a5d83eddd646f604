from tests.api.conftest import fast_passwords, make_server, server, shared_tls_context

__all__ = ["fast_passwords", "make_server", "server", "shared_tls_context"]
