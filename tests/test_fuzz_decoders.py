"""Property-based fuzzing of the decoders other tests leave out: the hop session on any
bytes, the host and client cores on any packet, and the files Severus reads (identity,
known_peers, the config directory). Each may refuse its input, in its documented way
only: never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import string
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from severus_cli.core.client.core import ClientCore
from severus_cli.core.host.core import Close, HostConfig, HostCore, Send
from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.trust.identity import create_identity, load_identity
from severus_cli.core.trust.known_peers import KnownPeers
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.session import HopSession, Role, join_psk
from severus_cli.errors import ConfigError, RemoteProtocolError

NOW = 1000.0
FILES = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
TYPES = sorted({*p.CLIENT_PACKETS, *p.HOST_PACKETS, "say", "tell", ""})
field_names = st.sampled_from(
    ["id", "room", "data", "to", "kind", "nick", "client", "rooms", "reason", "users", "t"]
)
packet_like = st.builds(
    lambda tag, fields: msgpack.packb({"t": tag, **fields}, use_bin_type=True),
    st.sampled_from(TYPES),
    st.dictionaries(field_names, values, max_size=5),
)
payloads = st.binary(max_size=300) | packet_like


HOP_PSK = join_psk(b"s", b"\x02" * 32)  # scrypt once, not in hypothesis's timed examples


@given(st.lists(st.binary(max_size=120), max_size=6), st.booleans())
@example([b"\x00\x20" + bytes(32)], False)  # a low-order ephemeral key (found by atheris)
def test_hop_session_on_any_bytes(chunks: list[bytes], with_psk: bool) -> None:
    session = HopSession(
        Role.RESPONDER, b"\x01" * 32, b"\x02" * 32, 2048, HOP_PSK if with_psk else None
    )
    for chunk in chunks:
        try:
            session.receive_data(chunk)
        except RemoteProtocolError:
            return


LOW_ORDER = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"


@pytest.mark.parametrize("point", [bytes(32), b"\x01" + bytes(31), bytes.fromhex(LOW_ORDER)])
def test_a_low_order_ephemeral_key_is_a_bad_handshake(point: bytes) -> None:
    """The host's reply does Diffie-Hellman with the joiner's ephemeral key; one of low
    order gives an all-zero secret, which must end that handshake like any bad input."""
    host = HopSession(Role.RESPONDER, b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(RemoteProtocolError) as refused:
        host.receive_data(b"\x00\x20" + point)
    assert refused.value.code == "bad_handshake"
    assert not host.data_to_send()


def _registered_host() -> HostCore:
    core = HostCore(HostConfig(max_rooms=3, rate_burst=3), NOW)
    for conn, nick in ((1, "fuzz"), (2, "bob")):
        core.accept(conn, NOW)
        core.authenticated(conn, bytes([conn]) * 32, NOW)
        core.receive(conn, p.encode(p.Hello(nick, "t", ())), NOW)
    return core


@given(st.lists(payloads, min_size=1, max_size=6), st.booleans())
def test_host_core_answers_anything_and_only_ever_closes_the_sender(
    sent: list[bytes], registered: bool
) -> None:
    core = _registered_host()
    conn = 1 if registered else 3
    if not registered:
        core.accept(3, NOW)
        core.authenticated(3, b"\x09" * 32, NOW)
    for n, payload in enumerate(sent):
        actions = core.receive(conn, payload, NOW + n)
        for action in actions:
            if isinstance(action, Close):
                assert action.conn == conn
            if isinstance(action, Send) and action.conn == conn:
                p.decode_from_host(action.data)  # whatever it answers is well-formed
        if any(isinstance(a, Close) for a in actions):
            core.closed(conn, NOW + n)
            break
    assert core.nick_of(2) == "bob"


# Blobs from a participant the client knows, so they reach the end-to-end layer.
from_bob = st.builds(
    lambda kind, data: p.encode(p.Relayed("bob", kind, data)),
    st.sampled_from(["hs", "dm", "key"]),
    st.binary(min_size=1, max_size=120)
    | st.sampled_from([b"\x01" + bytes(32), b"\x01" + bytes.fromhex(LOW_ORDER)]),
) | st.builds(
    lambda data: p.encode(p.Sealed("bob", "lobby", data, NOW)), st.binary(min_size=1, max_size=200)
)


@given(st.lists(payloads | from_bob, min_size=1, max_size=6), st.booleans())
@example([p.encode(p.Relayed("bob", "hs", b"\x01" + bytes(32)))], True)  # a low-order key
def test_client_core_refuses_junk_only_by_protocol_error(sent: list[bytes], welcomed: bool) -> None:
    core = ClientCore("fuzz", NOW, static_private=b"\x04" * 32, static_public=b"\x05" * 32)
    if welcomed:
        users = (("fuzz", b"\x05" * 32), ("bob", b"\x06" * 32))
        core.receive(p.encode(p.Welcome("fuzz", "ana", users)), NOW)
    for payload in sent:
        with contextlib.suppress(RemoteProtocolError):
            core.receive(payload, NOW)
        core.tick(NOW + 1)


json_like: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
peers_like = st.fixed_dictionaries(
    {"version": st.sampled_from([1, True, "1", 2]), "hosts": json_like}
) | st.fixed_dictionaries(
    {"version": st.just(1), "hosts": st.dictionaries(st.text(max_size=8), json_like, max_size=3)}
)


@FILES
@given(
    st.binary(max_size=200)
    | st.builds(lambda value: json.dumps(value).encode(), peers_like)
    | st.just(b"[" * 50000)
)
def test_known_peers_never_raises(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "known_peers.json").write_bytes(data)
    peers = KnownPeers(tmp_path, "127.0.0.1:3000")
    peers.check("bob", b"\x07" * 32)
    peers.save()
    if peers.problem:
        assert "known_peers.json" in peers.problem


@pytest.fixture(scope="module")
def good_identity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("identity")
    create_identity(directory)
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


@FILES
@given(
    st.sampled_from(["identity.key", "tls.key", "tls.crt"]),
    st.binary(max_size=300),
    st.integers(min_value=0, max_value=400),
)
def test_identity_files_refuse_only_by_config_error(
    good_identity: dict[str, bytes], name: str, junk: bytes, cut: int
) -> None:
    with tempfile.TemporaryDirectory() as raw:
        directory = Path(raw)
        for file, content in good_identity.items():
            (directory / file).write_bytes(content)
            os.chmod(directory / file, 0o600)
        original = good_identity[name]
        (directory / name).write_bytes(original[:cut] + junk)
        try:
            load_identity(directory)
        except ConfigError as error:
            assert name in error.message or str(directory) in error.message


@FILES
@given(
    st.text(alphabet=string.ascii_letters + string.digits + "._- ~\u00e9", min_size=1, max_size=20),
    st.sampled_from(["missing", "file", "dir", "nested-under-file"]),
)
def test_config_dir_resolution(tmp_path: Path, name: str, kind: str) -> None:
    target = tmp_path / "case" / ("d-" + name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file":
        target.write_text("not a directory")
    elif kind == "dir":
        target.mkdir(exist_ok=True)
    elif kind == "nested-under-file":
        target.write_text("a file")
        target = target / "inside"
    try:
        found = resolve_config_dir(target)
    except ConfigError as error:
        assert kind in ("file", "nested-under-file"), error
        assert str(target) in error.message
    else:
        assert found.is_dir() and kind in ("missing", "dir")
    finally:
        for leftover in sorted(target.parent.parent.rglob("*"), reverse=True):
            if leftover.is_dir():
                leftover.rmdir()
            else:
                leftover.unlink()
