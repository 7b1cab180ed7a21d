"""Mutation testing of the modules that hold trust, limits and the wire.

A green test suite says the code does what the tests look at; mutation testing says
whether the tests look at what matters. mutmut changes one thing at a time (``>`` to
``>=``, ``or`` to ``and``, drops an argument) and runs the unit tests against each
change; a change no test notices ("survived") is a behaviour nobody checks.

Run from the repository root::

    .venv/bin/python tools/mutation.py                   # every configured module
    .venv/bin/python tools/mutation.py ticket framing    # some of them (e2e = all of e2e/)
    .venv/bin/python tools/mutation.py --report ticket   # summarise the last run only

The configuration (which files, which tests, which lines are never mutated) is
``[tool.mutmut]`` in pyproject.toml. mutmut works in ``mutants/`` (not in git); this
script runs it niced with two workers, then prints per module: mutants, killed,
text-only, equivalent, survived and the share of logic mutants killed, and lists every
survivor with its diff.

A survivor is either killed by a new test, or listed in ``tests/mutation-equivalent.txt``
with a one-line reason, as ``text`` (it changes only what a message says; most of those
are never generated, see ``do_not_mutate_patterns``) or ``equivalent`` (no input can
tell it from the original). Entries name the function and the mutated line rather than
mutmut's numbered mutant, so they survive unrelated edits to the module; an entry that
no longer matches a survivor is reported as stale. A mutant that only deletes lines (a
dropped keyword argument) is named by what it deletes, as ``(removed) raw=False,``. Two
mutants of one function can read the same (one message set to None in two ``raise``
statements): each entry accounts for one survivor, so such a line is listed once per mutant.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "severus_cli.core"


def configured_modules() -> tuple[str, ...]:
    """The modules ``only_mutate`` names, dotted below severus_cli.core (``e2e.wire``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    core = ROOT.joinpath(*PACKAGE.split("."))
    found: list[str] = []
    for pattern in config["tool"]["mutmut"]["only_mutate"]:
        for path in sorted(ROOT.glob(pattern)):
            module = ".".join(path.relative_to(core).with_suffix("").parts)
            if path.name != "__init__.py" and module not in found:
                found.append(module)
    return tuple(found)


MODULES = configured_modules()
LISTED = ROOT / "tests" / "mutation-equivalent.txt"
LOG = ROOT / "mutants" / "mutation-run.log"
KINDS = ("text", "equivalent")
# A mutant that makes the tests hang or crash the interpreter is caught as surely as one
# that fails them.
CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}
TARGET = 95.0


@dataclass
class Tally:
    module: str
    mutants: int = 0
    killed: int = 0
    listed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    survivors: list[tuple[str, str, str]] = field(default_factory=list)  # name, status, diff

    @property
    def logic(self) -> int:
        return self.mutants - sum(self.listed.values())

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.logic if self.logic else 100.0


def expand(names: list[str]) -> list[str]:
    """``e2e`` stands for every module under e2e/, ``ticket`` for ``trust.ticket``;
    anything unknown is an error."""
    chosen: list[str] = []
    for name in names or list(MODULES):
        matches = [
            m
            for m in MODULES
            if m == name or m.startswith(name + ".") or m.rpartition(".")[2] == name
        ]
        if not matches:
            raise SystemExit(f"unknown module {name!r}; choose from: {', '.join(MODULES)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def run_mutmut(modules: list[str]) -> None:
    """Run mutmut on ``modules`` only: niced and two workers, as the machine is shared."""
    patterns = [f"{PACKAGE}.{module}.*" for module in modules]
    mutmut = Path(sys.executable).with_name("mutmut")
    command = ["nice", "-n", "10", str(mutmut), "run", "--max-children", "2", *patterns]
    LOG.parent.mkdir(exist_ok=True)
    print(f"running mutmut on {', '.join(modules)} (log: {LOG.relative_to(ROOT)})", flush=True)
    with LOG.open("w", encoding="utf-8") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = LOG.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed (exit {done.returncode}):\n{tail}")


def function_of(name: str, module: str) -> str:
    """``severus_cli.core.wire.framing.xǁFrameDecoderǁfeed__mutmut_3`` -> ``FrameDecoder.feed``."""
    local = name.removeprefix(f"{PACKAGE}.{module}.").rpartition("__mutmut_")[0]
    if local.startswith("xǁ"):
        return ".".join(local.removeprefix("xǁ").split("ǁ"))
    return local.removeprefix("x_")


def mutated_lines(diff: str) -> str:
    """The new side of the diff, which with the function identifies the mutant.

    A diff with no new side (a deleted argument) is named by its old side, marked
    ``(removed)``, so that two deletions in one function do not read alike.
    """
    body = diff.splitlines()[2:]
    added = [line[1:].strip() for line in body if line.startswith("+")]
    if added:
        return " / ".join(added)
    removed = [line[1:].strip() for line in body if line.startswith("-")]
    return "(removed) " + " / ".join(removed)


Listed = dict[tuple[str, str, str], list[tuple[str, str]]]


def read_listed() -> Listed:
    """``module | kind | function | mutated line | reason`` -> {(module, function, line): [...]}.

    A key listed twice stands for two identical-looking survivors, one each.
    """
    listed: Listed = {}
    for number, raw in enumerate(LISTED.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [part.strip() for part in raw.split(" | ")]
        if len(parts) != 5 or parts[1] not in KINDS or not parts[4]:
            expected = "MODULE | KIND | FUNCTION | LINE | REASON"
            raise SystemExit(f"{LISTED.name}:{number}: expected {expected}")
        module, kind, function, line, reason = parts
        listed.setdefault((module, function, line), []).append((kind, reason))
    return listed


def tally(module: str, listed: Listed) -> Tally:
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    path = Path(*PACKAGE.split("."), *module.split(".")).with_suffix(".py")
    meta = ROOT / "mutants" / path.with_name(path.name + ".meta")
    result = Tally(module)
    if not meta.exists():
        return result
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    for name, code in sorted(codes.items()):
        result.mutants += 1
        status = status_by_exit_code[code]
        if status in CAUGHT:
            result.killed += 1
            continue
        diff = get_diff_for_mutant(name, path=path)
        key = (module, function_of(name, module), mutated_lines(diff))
        if listed.get(key):
            result.listed[listed[key].pop(0)[0]] += 1
        else:
            result.survivors.append((name, status, diff))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--report", action="store_true", help="only summarise the last run")
    args = parser.parse_args()
    os.chdir(ROOT)
    modules = expand(args.modules)
    if not args.report:
        run_mutmut(modules)
    listed = read_listed()
    tallies = [tally(module, listed) for module in modules]

    for result in tallies:
        for name, status, diff in result.survivors:
            print(f"\n{status}: {name}\n{diff}")
    stale = [key for key, entries in listed.items() for _ in entries if key[0] in modules]
    for module, function, line in stale:
        print(f"\nstale entry in {LISTED.name} (no such survivor): {module} | {function} | {line}")

    header = ("module", "mutants", "killed", "text", "equivalent", "survived", "logic killed")
    rows = [
        (
            r.module,
            str(r.mutants),
            str(r.killed),
            str(r.listed["text"]),
            str(r.listed["equivalent"]),
            str(len(r.survivors)),
            f"{r.score:.1f}%" if r.mutants else "not run",
        )
        for r in tallies
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    below = [r.module for r in tallies if r.mutants and r.score < TARGET]
    if below:
        print(f"\nbelow {TARGET:.0f}% of logic mutants killed: {', '.join(below)}")
    return 1 if below or stale else 0


if __name__ == "__main__":
    sys.exit(main())
