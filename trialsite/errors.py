"""Domain errors that are not about one field: a refusal the user must understand.

Field errors use django.core.exceptions.ValidationError (form error / 400).
A DomainError becomes a message on the page or a 409 in the API.
"""


class DomainError(Exception):
    code = "conflict"
    status = 409

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class NoOpenSlot(DomainError):
    code = "no_open_slot"


class CapReached(DomainError):
    code = "cap_reached"
