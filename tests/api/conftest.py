from tests.api.helpers import fast_passwords

__all__ = ["fast_passwords"]
