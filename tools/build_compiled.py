"""Compile the host's per-message path with mypyc, into a directory of its own.

The plain install stays pure Python and needs no compiler. This opt-in build writes C
extensions of the modules below into ``build/compiled/`` (or ``--out DIR``), beside the
sources rather than over them, with a manifest of each source's SHA-256. They are used
only when ``SEVERUS_COMPILED=1`` (or ``=DIR``) is set, and only while every source still
matches its manifest entry: an edited module makes ``severus`` warn and run pure Python,
so a stale extension never shadows the code being worked on (severus_cli/_compiled.py).

Run: ``python tools/build_compiled.py`` (needs a C compiler and the Python headers:
``apt-get install -y gcc python3-dev``); ``--clean`` removes the build; then
``SEVERUS_COMPILED=1 severus host ...``. ``severus --version`` says which core runs.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "compiled"
MANIFEST = "manifest.json"
GROUP = "severus_core"  # mypyc's shared library: severus_core__mypyc

# The sans-IO part of what the host runs for every message it relays (bench.host_cost
# --profile relay). The packet classes stay interpreted: mypyc hands a dataclass's
# ClassVars (TYPE, SCHEMA) to @dataclass as fields (mypyc/mypyc#1122), and dataclass
# methods are interpreted anyway. The direct transport's glue (net/host_loop, tcp,
# tls_bio) is there too: per delivery, the host works in it more than in the core.
MODULES = (
    "severus_cli/core/wire/fields.py",
    "severus_cli/core/wire/framing.py",
    "severus_cli/core/wire/seal_reader.py",
    "severus_cli/core/wire/codec.py",
    "severus_cli/core/limits/ratelimit.py",
    "severus_cli/core/host/actions.py",
    "severus_cli/core/host/limits.py",
    "severus_cli/core/host/core.py",
    "severus_cli/net/tls_bio.py",
    "severus_cli/net/host_loop.py",
    "severus_cli/net/tcp.py",
)


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def imported(path: str) -> set[str]:
    """The project's modules that ``path`` imports: the compiled code was type-checked
    against them, and casts what they return, so an edit to one stales the build too."""
    tree = ast.parse((ROOT / path).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {
        name
        for name in names
        if name.startswith("severus_cli.") and (ROOT / (name.replace(".", "/") + ".py")).is_file()
    }


def build(out: Path) -> dict[str, object]:
    """Compile MODULES into ``out`` (replacing what was there); return the manifest."""
    from mypyc.build import mypycify
    from setuptools import Distribution

    os.chdir(ROOT)  # mypyc names modules by their paths from here
    # Hashed before mypyc reads them: a source saved during the build no longer matches
    # below, and the build stops instead of vouching for code its extensions lack.
    modules = {module_name(p): source_hash(ROOT / p) for p in MODULES}
    names = sorted(set().union(*(imported(p) for p in MODULES)) - set(modules))
    checked = {name: source_hash(ROOT / (name.replace(".", "/") + ".py")) for name in names}
    with tempfile.TemporaryDirectory(prefix="severus-mypyc-") as temp:
        extensions = mypycify(
            list(MODULES), opt_level="3", target_dir=str(Path(temp) / "c"), group_name=GROUP
        )
        staging = Path(temp) / "lib"
        dist = Distribution({"name": "severus-compiled", "ext_modules": extensions})
        command = dist.get_command_obj("build_ext")
        command.build_lib = str(staging)
        command.build_temp = str(Path(temp) / "obj")
        command.parallel = os.cpu_count() or 1
        dist.run_command("build_ext")
        now = {name: source_hash(ROOT / (name.replace(".", "/") + ".py")) for name in modules}
        now |= {name: source_hash(ROOT / (name.replace(".", "/") + ".py")) for name in checked}
        if now != modules | checked:
            sys.exit("a source changed while it was being compiled: build again")
        manifest: dict[str, object] = {
            "suffix": sysconfig.get_config_var("EXT_SUFFIX"),
            "runtime": f"{GROUP}__mypyc",
            "modules": modules,
            "checked": checked,
        }
        clean(out)
        shutil.copytree(staging, out)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def clean(out: Path) -> None:
    if (out / MANIFEST).exists() or (out.exists() and not any(out.iterdir())):
        shutil.rmtree(out)
    elif out.exists():
        sys.exit(f"{out} exists and holds no {MANIFEST}: not removing it")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python tools/build_compiled.py")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to build")
    parser.add_argument("--clean", action="store_true", help="remove the build and exit")
    args = parser.parse_args()
    out = args.out.resolve()
    if args.clean:
        clean(out)
        print(f"removed {out}")
        return
    start = time.monotonic()
    manifest = build(out)
    modules = manifest["modules"]
    assert isinstance(modules, dict)
    took = time.monotonic() - start
    print(f"compiled {len(modules)} modules into {out} in {took:.0f} s")
    setting = "1" if out == DEFAULT_OUT else str(out)
    print(f"use them: SEVERUS_COMPILED={setting} severus ...; remove them: --clean")


if __name__ == "__main__":
    main()
