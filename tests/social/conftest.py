from tests.api.conftest import fast_passwords, make_server, server

__all__ = ["fast_passwords", "make_server", "server"]
