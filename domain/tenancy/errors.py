from __future__ import annotations

from domain.kit.errors import InvalidInput, NotFound, StateConflict


class OperatorNotFound(NotFound):
    code = "operator_not_found"


class MerchantNotFound(NotFound):
    code = "merchant_not_found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class ApiKeyAlreadyRevoked(StateConflict):
    code = "api_key_already_revoked"


class InvalidKeyRole(InvalidInput):
    code = "invalid_key_role"
