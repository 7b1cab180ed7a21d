"""``mypyc_attr``, for the classes that the optional mypyc build compiles
(tools/build_compiled.py) and that other code subclasses: the build reads it from
mypy_extensions (which ships with mypy), while a plain install, which may lack that
package, gets a decorator that does nothing."""

from __future__ import annotations

from collections.abc import Callable

try:
    from mypy_extensions import mypyc_attr
except ImportError:

    def mypyc_attr(*_args: object, **_flags: object) -> Callable[[type], type]:  # type: ignore[misc]
        return lambda cls: cls


__all__ = ["mypyc_attr"]
