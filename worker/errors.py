"""The one exception type that crosses stage boundaries: it carries a stable ErrorCode."""

from __future__ import annotations

from models.errors import ErrorCode, is_permanent


class IntakeError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def permanent(self) -> bool:
        return is_permanent(self.code)

    def __str__(self) -> str:
        return f"[{self.code.value}] {self.message}"


class UntrustedMessage(IntakeError):
    """A queue message naming something this worker must not read (another bucket, a path outside the inbox,
    a FIFO, a device, a directory, a symlink): dead-lettered at once with bad_message, never retried."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.BAD_MESSAGE, message)
