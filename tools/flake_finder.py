"""Run chosen tests many times, optionally beside CPU hogs, and count failures per test.

    .venv/bin/python tools/flake_finder.py -n 200 [--hogs 2] [-x] TEST_IDS... [-- PYTEST_ARGS]

A test that fails one run in a hundred passes most CI runs and then fails a release; the
way to find it, and to prove a fix, is to run it a few hundred times, on a loaded
machine, where timing assumptions break first. One pytest session runs every chosen
test N times (each is parametrized with a run number, in rounds: all tests once, then
all again), so N runs cost N test bodies, not N interpreter starts and collections.

``--hogs K`` starts K busy loops (``--hogs $(nproc)``: one per core) for the whole
session; each stops when the session ends, when this process dies, or after
``--hog-limit`` seconds, whichever comes first. ``-x`` stops at the first failure.
Arguments after ``--`` go to pytest as they are (``-- --tb=short -s``). Test functions
are repeated; other items (doctests, unittest cases) run once and are counted as such.

Prints, for each test, ``failed k of N`` with the first failure's short message, and
exits 1 when any run failed (or pytest's own code when it could not run the tests).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

RUN_ARG = "flake_finder_run"

HOG = """
import os, time
parent, end = os.getppid(), time.monotonic() + {limit}
while os.getppid() == parent and time.monotonic() < end:
    for _ in range(1_000_000):
        pass
"""


@dataclass
class Tally:
    """What happened to one test over all its runs."""

    runs: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    first_failure: str = ""


def run_id(run: int, runs: int) -> str:
    return f"run{run + 1}of{runs}"


def base_id(nodeid: str, run: int, runs: int) -> str:
    """``nodeid`` without this tool's run number, so the runs of a test add up."""
    tag = run_id(run, runs)
    for old, new in ((f"[{tag}]", ""), (f"-{tag}]", "]"), (f"[{tag}-", "[")):
        if old in nodeid:
            head, _, tail = nodeid.rpartition(old)
            return head + new + tail
    return nodeid


def short_message(report: pytest.TestReport) -> str:
    """The crash line of a failure (``AssertionError: ...``), not the whole traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or str(report.longrepr)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    message = " | ".join(lines[:3])
    return message if len(message) <= 300 else message[:297] + "..."


def split_cases(tests: Sequence[str]) -> tuple[list[str], set[str]]:
    """What to collect, and which parametrized cases (``test_x[a]``) to keep of it.

    Once this tool adds its run number, ``test_x[a]`` is no longer a node id pytest can
    find, so the function ``test_x`` is collected and the other cases are dropped.
    """
    targets: list[str] = []
    cases: set[str] = set()
    for test in tests:
        head, sep, name = test.rpartition("::")
        if sep and "[" in name and name.endswith("]"):
            cases.add(test)
            test = head + sep + name[: name.index("[")]
        if test not in targets:
            targets.append(test)
    return targets, cases


def _same_test(nodeid: str, asked: str) -> bool:
    """``asked`` may be relative to the working directory rather than the root."""
    return nodeid == asked or nodeid.endswith("/" + asked)


class Repeat:
    """pytest plugin: every test N times, and a tally of each test's runs."""

    def __init__(self, runs: int, cases: set[str] | None = None) -> None:
        self.runs = runs
        self.cases = cases or set()
        self.tallies: dict[str, Tally] = {}
        self._base: dict[str, str] = {}

    def _unwanted(self, base: str) -> bool:
        """A case of a function the user asked only some cases of, and not this one."""
        function = base.partition("[")[0]
        asked = [case for case in self.cases if _same_test(function, case.partition("[")[0])]
        return bool(asked) and not any(_same_test(base, case) for case in asked)

    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        metafunc.fixturenames.append(RUN_ARG)
        metafunc.parametrize(
            RUN_ARG, range(self.runs), ids=[run_id(i, self.runs) for i in range(self.runs)]
        )

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        def run_of(item: pytest.Item) -> int:
            callspec = getattr(item, "callspec", None)
            return int(callspec.params.get(RUN_ARG, 0)) if callspec is not None else 0

        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            base = base_id(item.nodeid, run_of(item), self.runs)
            if self._unwanted(base):
                dropped.append(item)
                continue
            keep.append(item)
            self._base[item.nodeid] = base
            self.tallies.setdefault(base, Tally())
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        keep.sort(key=run_of)  # stable: rounds of the suite in its own order
        items[:] = keep

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tally = self.tallies.setdefault(self._base.get(report.nodeid, report.nodeid), Tally())
        # A run counts once it is over: torn down, or ended early by a failure or a
        # skip; a run cut short by Ctrl-C counts neither way.
        if report.when == "teardown" or report.failed or report.skipped:
            tally.runs.add(report.nodeid)
        if report.failed:
            if not tally.failed:
                tally.first_failure = f"(run {len(tally.runs)}) {short_message(report)}"
            tally.failed.add(report.nodeid)
        elif report.skipped:
            tally.skipped.add(report.nodeid)


@contextmanager
def hogs(count: int, limit: float) -> Iterator[list[int]]:
    """``count`` busy Python loops, stopped on the way out, whatever happens."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", HOG.format(limit=limit)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                )
            )
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def report_lines(tallies: dict[str, Tally]) -> list[str]:
    """One line per test, the flakiest first; a second line for the first failure."""
    lines: list[str] = []
    for test, tally in sorted(tallies.items(), key=lambda kv: (-len(kv[1].failed), kv[0])):
        if not tally.runs:
            lines.append(f"{test}: did not run")
            continue
        verdict = "failed" if tally.failed else "passed"
        count = len(tally.failed) if tally.failed else len(tally.runs) - len(tally.skipped)
        line = f"{test}: {verdict} {count} of {len(tally.runs)}"
        if tally.skipped:
            line += f" (skipped {len(tally.skipped)})"
        lines.append(line)
        if tally.first_failure:
            lines.append(f"    first failure {tally.first_failure}")
    return lines


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    args = list(argv)
    extra: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, extra = args[:at], args[at + 1 :]
    parser = argparse.ArgumentParser(
        prog="flake_finder.py",
        description="Run tests N times (optionally beside CPU hogs); count failures per test.",
    )
    parser.add_argument("-n", "--runs", type=int, default=50, help="runs of each test (50)")
    parser.add_argument(
        "--hogs", type=int, default=0, metavar="K", help="busy loops beside the tests (0)"
    )
    parser.add_argument(
        "--hog-limit",
        type=float,
        default=3600.0,
        metavar="S",
        help="a hog stops by itself after S seconds (3600)",
    )
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    parser.add_argument("tests", nargs="+", metavar="TEST_ID", help="pytest node ids or paths")
    options = parser.parse_args(args)
    if options.runs < 1 or options.hogs < 0:
        parser.error("--runs must be at least 1 and --hogs at least 0")
    return options, extra


def main(argv: Sequence[str] | None = None) -> int:
    options, extra = parse(sys.argv[1:] if argv is None else argv)
    targets, cases = split_cases(options.tests)
    pytest_args = ["-q", *(["-x"] if options.exitfirst else []), *extra, *targets]
    plugin = Repeat(options.runs, cases)
    started = time.monotonic()
    with hogs(options.hogs, options.hog_limit) as pids:
        code = pytest.main(pytest_args, plugins=[plugin])
    took = time.monotonic() - started
    beside = f" beside {len(pids)} CPU hog(s) (pids {', '.join(map(str, pids))})" if pids else ""
    print(f"\nflake finder: {options.runs} run(s) of each test{beside}, {took:.0f} s")
    for line in report_lines(plugin.tallies):
        print(line)
    if code == pytest.ExitCode.INTERRUPTED:
        print("interrupted: the counts are of the runs that finished")
    if any(t.failed for t in plugin.tallies.values()):
        return 1
    if not any(t.runs for t in plugin.tallies.values()):
        print("no test ran")
        return int(code) or 1
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
