"""The known_hosts store: validation, updates, and concurrent writers."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from severus_cli.core.trust import known_hosts
from severus_cli.core.trust.identity import fingerprint
from severus_cli.core.trust.known_hosts import KnownHosts, parse_known_hosts, pin, remove, touch
from severus_cli.core.trust.tofu import KnownHost
from severus_cli.errors import ChangedHostKeyError, ConfigError

KEY = fingerprint(b"key")
OTHER_KEY = fingerprint(b"other key")
CERT = fingerprint(b"cert")
OTHER_CERT = fingerprint(b"other cert")
T0 = "2026-01-01T00:00:00Z"
T1 = "2026-02-01T00:00:00Z"
PATH = Path("/cfg/known_hosts.json")


def document(**entry: Any) -> bytes:
    base = {"key": KEY, "cert": CERT, "first_seen": T0, "last_seen": T1}
    base.update(entry)
    return json.dumps({"version": 1, "hosts": {"h:1": base}}).encode()


def test_missing_file_is_empty(tmp_path: Path) -> None:
    store = KnownHosts.load(tmp_path)
    assert store.entries() == {} and store.get("h:1") is None
    assert store.path == tmp_path / "known_hosts.json"


def test_pin_get_touch_remove(tmp_path: Path) -> None:
    assert pin(tmp_path, "Example.com", KEY, None, T0) is True
    entry = KnownHosts.load(tmp_path).get("example.com:3000")
    assert entry == KnownHost(KEY, None, T0, T0)
    assert KnownHosts.load(tmp_path).get("EXAMPLE.com") == entry  # get normalises

    assert touch(tmp_path, "example.com:3000", CERT, T1) is True
    assert KnownHosts.load(tmp_path).get("example.com") == KnownHost(KEY, CERT, T0, T1)

    assert pin(tmp_path, "example.com", KEY, None, T1) is False  # same key: keeps cert
    assert KnownHosts.load(tmp_path).get("example.com") == KnownHost(KEY, CERT, T0, T1)

    assert remove(tmp_path, "example.com:3000") is True
    assert remove(tmp_path, "example.com:3000") is False
    assert KnownHosts.load(tmp_path).entries() == {}


def test_written_file_format_and_mode(tmp_path: Path) -> None:
    pin(tmp_path, "b", KEY, CERT, T0)
    pin(tmp_path, "a", OTHER_KEY, None, T1)
    path = tmp_path / "known_hosts.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "version": 1,
        "hosts": {
            "a:3000": {"key": OTHER_KEY, "cert": None, "first_seen": T1, "last_seen": T1},
            "b:3000": {"key": KEY, "cert": CERT, "first_seen": T0, "last_seen": T0},
        },
    }
    assert list(KnownHosts.load(tmp_path).entries()) == ["a:3000", "b:3000"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_pin_never_overwrites_a_different_key(tmp_path: Path) -> None:
    pin(tmp_path, "h:1", KEY, CERT, T0)
    before = (tmp_path / "known_hosts.json").read_bytes()
    with pytest.raises(ChangedHostKeyError) as info:
        pin(tmp_path, "h:1", OTHER_KEY, CERT, T1)
    assert "severus trust remove h:1" in info.value.message and KEY in info.value.message
    assert (tmp_path / "known_hosts.json").read_bytes() == before


def test_touch_unknown_or_repinned_host(tmp_path: Path) -> None:
    assert touch(tmp_path, "h:1", CERT, T1) is False
    assert not (tmp_path / "known_hosts.json").exists()
    pin(tmp_path, "h:1", KEY, CERT, T0)
    assert touch(tmp_path, "h:1", OTHER_CERT, T1, key_fp=OTHER_KEY) is False
    assert KnownHosts.load(tmp_path).get("h:1") == KnownHost(KEY, CERT, T0, T0)
    assert touch(tmp_path, "h:1", OTHER_CERT, T1, key_fp=KEY) is True
    assert KnownHosts.load(tmp_path).get("h:1") == KnownHost(KEY, OTHER_CERT, T0, T1)


def test_utc_now_iso_is_loadable(tmp_path: Path) -> None:
    now = known_hosts.utc_now_iso()
    assert now.endswith("Z") and len(now) == 20
    pin(tmp_path, "h", KEY, None, now)
    assert KnownHosts.load(tmp_path).get("h") == KnownHost(KEY, None, now, now)


def test_repin_with_a_new_certificate_records_it(tmp_path: Path) -> None:
    """Re-pinning the same key after the host rotated its TLS certificate must store the
    new certificate hash and refresh last_seen: a pin that kept the old hash would report
    every later connection as a changed certificate, and a stale last_seen would hide
    when the host was really last seen."""
    pin(tmp_path, "h:1", KEY, CERT, T0)
    assert pin(tmp_path, "h:1", KEY, OTHER_CERT, T1) is False
    assert KnownHosts.load(tmp_path).get("h:1") == KnownHost(KEY, OTHER_CERT, T0, T1)


def test_timestamps_are_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored times end in Z, so they must be UTC even on a machine set to another
    zone; local time labelled Z would be off by hours (here +05:45, never UTC)."""
    monkeypatch.setenv("TZ", "NPT-05:45")
    time.tzset()
    try:
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        stamp = dt.datetime.strptime(known_hosts.utc_now_iso(), "%Y-%m-%dT%H:%M:%S%z")
        after = dt.datetime.now(dt.UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert before <= stamp <= after


def test_file_has_one_field_per_line_for_hand_editing(tmp_path: Path) -> None:
    """The file is meant to be read and edited by people (``severus trust`` prints its
    path in every warning): one field per line, so a diff shows which pin changed."""
    pin(tmp_path, "h:1", KEY, CERT, T0)
    lines = (tmp_path / "known_hosts.json").read_text(encoding="utf-8").splitlines()
    assert f'"key": "{KEY}",' in [line.strip() for line in lines]
    assert f'"cert": "{CERT}",' in [line.strip() for line in lines]


def test_errors_show_hostile_file_content_escaped_and_cut_short() -> None:
    """A planted or corrupted known_hosts reaches the terminal only through its error
    message: control characters must arrive escaped and a huge value cut short, while a
    short bad value is shown whole so the user can find it."""
    evil = "\x1b]0;owned\x07" + "a" * 5000
    data = json.dumps({"version": 1, "hosts": {evil: {}}}).encode()
    with pytest.raises(ConfigError) as info:
        parse_known_hosts(data, PATH)
    message = info.value.message
    assert "\x1b" not in message and "\x07" not in message
    assert "'\\x1b]0;owned\\x07aaa" in message
    assert len(message) < 300

    data = json.dumps({"version": 1, "hosts": {"bad host": {}}}).encode()
    with pytest.raises(ConfigError) as info:
        parse_known_hosts(data, PATH)
    assert "bad host 'bad host')" in info.value.message


def test_valid_hand_edited_file() -> None:
    data = json.dumps(
        {
            "version": 1,
            "hosts": {
                "Example.COM": {
                    "key": " sha256:" + KEY[7:] + "= ",
                    "first_seen": "2026-01-01",
                    "last_seen": "2026-01-01T00:00:00+02:00",
                    "comment": "ignored",
                }
            },
        }
    ).encode()
    assert parse_known_hosts(data, PATH) == {
        "example.com:3000": KnownHost(KEY, None, "2026-01-01", "2026-01-01T00:00:00+02:00")
    }


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'{"hosts": {}}',
        b'{"version": 2, "hosts": {}}',
        b'{"version": true, "hosts": {}}',
        b'{"version": 1.0, "hosts": {}}',
        b'{"version": 1}',
        b'{"version": 1, "hosts": []}',
        b'{"version": 1, "hosts": {}, "version": 1}',
        b"[" * 100_000,
        b'{"version": 1' + b"0" * 5000 + b"}",
        document(key=None),
        document(key=5),
        document(key="SHA256:short"),
        document(key=KEY[:-1] + "V"),
        document(cert="nope"),
        document(cert=7),
        document(first_seen=None),
        document(last_seen="yesterday"),
        document(last_seen=20260101),
        json.dumps({"version": 1, "hosts": {"h:1": []}}).encode(),
        json.dumps({"version": 1, "hosts": {"bad host": {}}}).encode(),
        json.dumps({"version": 1, "hosts": {"h:99999": {}}}).encode(),
        # two spellings of one host
        json.dumps(
            {
                "version": 1,
                "hosts": {
                    "H:1": json.loads(document())["hosts"]["h:1"],
                    "h:1": json.loads(document())["hosts"]["h:1"],
                },
            }
        ).encode(),
    ],
)
def test_invalid_files(data: bytes) -> None:
    with pytest.raises(ConfigError) as info:
        parse_known_hosts(data, PATH)
    assert str(PATH) in info.value.message and "delete it" in info.value.message


def test_corrupt_file_on_disk(tmp_path: Path) -> None:
    (tmp_path / "known_hosts.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"known_hosts\.json"):
        KnownHosts.load(tmp_path)
    with pytest.raises(ConfigError):  # and updates refuse rather than start afresh
        pin(tmp_path, "h", KEY, None, T0)
    assert (tmp_path / "known_hosts.json").read_text() == "{not json"


def test_unreadable_path(tmp_path: Path) -> None:
    (tmp_path / "known_hosts.json").mkdir()
    with pytest.raises(ConfigError, match=r"known_hosts\.json"):
        KnownHosts.load(tmp_path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=20,
)
entry_like = st.fixed_dictionaries(
    {},
    optional={
        "key": st.sampled_from([KEY, "SHA256:", 1, None]) | st.text(max_size=50),
        "cert": st.sampled_from([CERT, None, ""]) | json_values,
        "first_seen": st.sampled_from([T0, "2026-13-01", ""]) | json_values,
        "last_seen": st.sampled_from([T1, 0]) | st.text(max_size=30),
    },
)
store_like = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from([1, 0, 2, "1", None]),
        "hosts": st.dictionaries(
            st.sampled_from(["h", "h:1", "[::1]:2", "a b", ""]) | st.text(max_size=20),
            entry_like | json_values,
            max_size=3,
        )
        | json_values,
    },
)


@given(st.one_of(json_values, store_like))
@example({"version": 1, "hosts": {"h": {"key": KEY, "first_seen": T0, "last_seen": T1}}})
def test_loader_on_arbitrary_json(value: object) -> None:
    try:
        data = json.dumps(value).encode()
    except ValueError:
        return
    try:
        hosts = parse_known_hosts(data, PATH)
    except ConfigError:
        return
    for entry in hosts.values():
        assert isinstance(entry, KnownHost)


@given(st.binary(max_size=200))
def test_loader_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(ConfigError):
        parse_known_hosts(data, PATH)


def _pin_many(config_dir: str, worker: int, count: int) -> None:
    for i in range(count):
        pin(Path(config_dir), f"w{worker}-h{i}.test", fingerprint(b"%d/%d" % (worker, i)), None, T0)


def test_concurrent_pins_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers, per_worker = 8, 10
    processes = [
        context.Process(target=_pin_many, args=(str(tmp_path), w, per_worker))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    entries = KnownHosts.load(tmp_path).entries()
    assert len(entries) == workers * per_worker
    for w in range(workers):
        for i in range(per_worker):
            assert entries[f"w{w}-h{i}.test:3000"].key == fingerprint(b"%d/%d" % (w, i))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "known_hosts.json",
        "known_hosts.json.lock",
    ]
