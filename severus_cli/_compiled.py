"""Load the mypyc-compiled host core when asked, and only while it matches the sources.

``tools/build_compiled.py`` writes C extensions of the host's per-message modules into a
directory of their own with a manifest of each source's SHA-256. ``SEVERUS_COMPILED=1``
(the default ``build/compiled`` of a source checkout) or ``SEVERUS_COMPILED=DIR`` puts
a finder for exactly those modules first on ``sys.meta_path``; anything else, or a build
whose sources have changed since, leaves the pure-Python modules in use (with a warning
for the stale build), so an edited ``.py`` is never shadowed by an old extension.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ENV = "SEVERUS_COMPILED"
MANIFEST = "manifest.json"
PACKAGE = Path(__file__).resolve().parent
DEFAULT_DIR = PACKAGE.parent / "build" / "compiled"
PROBE = "severus_cli.core.host.core"  # compiled in every build: says which core runs


class CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds the built extension of each module the manifest names, and nothing else."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


def stale_modules(directory: Path, manifest: dict[str, object]) -> list[str]:
    """The modules compiled, or imported by those (``checked``), whose source differs
    from what the build saw (or is gone)."""
    modules = manifest.get("modules")
    checked = manifest.get("checked", {})
    if not isinstance(modules, dict) or not isinstance(checked, dict):
        return ["(no module list)"]
    stale = []
    for name, digest in (modules | checked).items():
        source = PACKAGE.parent / (name.replace(".", "/") + ".py")
        try:
            current = hashlib.sha256(source.read_bytes()).hexdigest()
        except OSError:
            current = ""
        if current != digest:
            stale.append(name)
    return stale


def finder_for(directory: Path) -> CompiledFinder | str:
    """A finder for the build in ``directory``, or why it cannot be used."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"no compiled core in {directory} (build it: python tools/build_compiled.py)"
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if not isinstance(manifest, dict) or manifest.get("suffix") != suffix:
        return f"the compiled core in {directory} was built for another Python"
    stale = stale_modules(directory, manifest)
    if stale:
        return f"the compiled core in {directory} is older than {', '.join(stale)}"
    files = {name: directory / (name.replace(".", "/") + suffix) for name in manifest["modules"]}
    runtime = manifest.get("runtime")
    if isinstance(runtime, str):
        files[runtime] = directory / (runtime + suffix)
    missing = [str(file) for file in files.values() if not file.is_file()]
    if missing:
        return f"the compiled core in {directory} lacks {missing[0]}"
    return CompiledFinder(files)


def activate(setting: str) -> bool:
    """Use the build ``setting`` names (``1``: the default directory); say why not."""
    if setting in ("", "0"):
        return False
    directory = DEFAULT_DIR if setting == "1" else Path(setting)
    found = finder_for(directory)
    if isinstance(found, str):
        print(f"severus: {ENV} is set, but {found}: running pure Python", file=sys.stderr)
        return False
    if PROBE not in sys.modules:
        sys.meta_path.insert(0, found)
    return True


def in_use() -> bool:
    """Whether the host core running is the compiled one (importing it if need be)."""
    module = importlib.import_module(PROBE)
    return not (module.__file__ or "").endswith(".py")
