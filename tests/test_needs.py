"""A missing tool skips a test on a developer's machine and fails it under CI=true."""

from __future__ import annotations

import pytest

from tests import needs


def _outcome(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> str:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    try:
        needs.require_tool("severus-no-such-tool", "severus-pkg", why="a test")
    except pytest.skip.Exception as skipped:
        return f"skip: {skipped.msg}"
    except pytest.fail.Exception as failed:
        return f"fail: {failed.msg}"
    return "ran"


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_a_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    outcome = _outcome(monkeypatch, ci)
    assert outcome.startswith("skip: needs severus-no-such-tool (a test)")
    assert "apt-get install -y severus-pkg" in outcome


@pytest.mark.parametrize("ci", ["true", "1", "TRUE", "yes"])
def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    outcome = _outcome(monkeypatch, ci)
    assert outcome.startswith("fail: CI=true, and this test cannot run: needs severus-no-such")
    assert "apt-get install -y severus-pkg" in outcome


def test_a_present_tool_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert needs.require_tool("sh", "dash").endswith("/sh")


def test_every_missing_tool_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        needs.require_tools({"sh": "dash", "sev-a": "pkg-a", "sev-b": "pkg-b"})
    assert "needs sev-a, sev-b: apt-get install -y pkg-a pkg-b" in failed.value.msg


def test_a_missing_module_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="severus_no_such_module"):
        needs.require_module("severus_no_such_module", "pip install it")
    needs.require_module("json", "stdlib")
