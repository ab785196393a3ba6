"""Every error Homeward raises on purpose, in one hierarchy.

Each carries the field it is about and the reason, so an operator, an HTTP
client and a dead-letter header all get the same precise message.
"""

from __future__ import annotations


class HomewardError(Exception):
    """Base of every error Homeward raises on purpose."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class CodecError(HomewardError):
    """A record could not be encoded or decoded (framing, schema, size, headers)."""


class ValidationError(HomewardError):
    """A decoded event breaks a rule its schema cannot express."""


class ConfigError(HomewardError):
    """Settings, topology or a directory file is wrong; `path` is the file, when
    there is one (its message then starts with it)."""

    def __init__(self, reason: str, *, field: str | None = None, path: object = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(reason, field=field)
        if self.path:
            self.args = (f"{self.path}: {self.args[0]}",)


class DirectoryError(ConfigError):
    """A row of the agency directory is wrong; `line` is its 1-based line number."""

    def __init__(self, reason: str, *, line: int, field: str | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {reason}", field=field)


class PublishRefused(HomewardError):
    """Kafka refused the write for good (grants, size): a retry will not help (500)."""


class PublishUnavailable(HomewardError):
    """Kafka could not be reached or did not acknowledge in time (answered as 503)."""
