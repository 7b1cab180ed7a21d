"""TLS 1.3 contexts for the self-signed certificate, and certificate pinning helpers.

The client does not verify the certificate chain (it is self-signed); Python's ssl
still checks the handshake signature, and we pin the SHA-256 of the certificate the
server presented, which the Noise prologue then binds.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

ALPN = "severus/3"


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(cert_file), str(key_file))
    context.set_alpn_protocols([ALPN])
    context.num_tickets = 0  # clients never resume: issuing tickets is work for nothing
    return context


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([ALPN])
    return context


def channel_binding(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes:
    """The TLS connection's channel binding: the verify_data of the server's Finished
    message, which OpenSSL reports as ``tls-unique`` on both sides under TLS 1.3.

    It differs for every TLS connection, so a Noise handshake bound to it cannot be
    relayed into another TLS connection, not even by someone holding the TLS key.
    """
    value = ssl_object.get_channel_binding("tls-unique") if ssl_object is not None else None
    if not value:
        raise ssl.SSLError("the TLS connection offers no channel binding")
    return value


def peer_cert_hash(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes:
    """SHA-256 of the DER certificate the peer presented."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise ssl.SSLError("the host presented no certificate")
    return hashlib.sha256(der).digest()
