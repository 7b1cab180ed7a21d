"""One hierarchy for every failure a person can see, and its exit code.

Each class's docstring is the default message, so raising ``HostUnreachable()``
already says something useful; pass a string to be more specific. Commands never
print tracebacks: ``severus_cli.__main__`` maps these to a message and exit code.
"""

from __future__ import annotations


class SeverusError(Exception):
    """Something went wrong."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(SeverusError):
    """The command line is not right."""

    exit_code = 2


class ConfigError(SeverusError):
    """A configuration or key file cannot be used."""

    exit_code = 3


class IdentityExistsError(ConfigError):
    """An identity already exists; use --force to replace it."""


class TrustError(SeverusError):
    """The host's identity could not be trusted."""

    exit_code = 4


class UnknownHostError(TrustError):
    """This host is not in known_hosts and was not accepted."""


class ChangedHostKeyError(TrustError):
    """The host's key differs from the one pinned in known_hosts."""


class ChangedPeerKeyError(TrustError):
    """A participant's key differs from the one pinned (or given with --peer) for
    their nick, and was not accepted: nothing was encrypted to it."""


class TransportError(SeverusError):
    """The connection failed."""

    exit_code = 5


class HostUnreachable(TransportError):
    """Could not reach the host."""


class ConnectionLost(TransportError):
    """The connection to the host was lost."""


class HandshakeTimeout(TransportError):
    """The handshake did not complete in time."""


class RejectedError(SeverusError):
    """The host refused the request."""

    exit_code = 6


class JoinSecretRefused(RejectedError):
    """The host refused the handshake: wrong or missing join secret (give it with
    --secret, or join with the host's ticket, which carries it)."""


class ProtocolError(SeverusError):
    """The peer broke the protocol."""

    exit_code = 7


class LocalProtocolError(ProtocolError):
    """We were about to send something the protocol forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""

    def __init__(self, message: str | None = None, code: str = "bad_packet") -> None:
        super().__init__(message)
        self.code = code


class Interrupted(SeverusError):
    """Interrupted."""

    exit_code = 130


EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "error": SeverusError.exit_code,
    "usage": UsageError.exit_code,
    "config": ConfigError.exit_code,
    "trust": TrustError.exit_code,
    "connection": TransportError.exit_code,
    "rejected": RejectedError.exit_code,
    "protocol": ProtocolError.exit_code,
    "interrupted": Interrupted.exit_code,
}
