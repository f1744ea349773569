"""A step's code fingerprint: its source and the source of the user's code it reaches.

Found cheaply, without running anything: the names a function's code object loads
(``co_names``, in nested code objects too) are looked up in its globals and its
closure. What they name is followed when it is the user's own code -- a function, a
class, or a function or class reached as ``module.name`` of one of the user's modules:

* covered: the step's source; the source of every user function and class reached this
  way, to any depth (decorated ones through ``__wrapped__``); simple constants the step or
  those functions read from globals (numbers, text, bytes, ``None``, tuples of them).
* not covered: installed packages and the standard library (their versions are in the
  trial's environment); data files; mutable globals (lists, dicts, objects) and attributes
  of objects (``config.lr``, ``model.fit``); code reached dynamically (``getattr``,
  ``importlib``, functions passed in as arguments, which are inputs).

"The user's own" means a module whose file is outside the standard library and
site-packages (a script, a notebook, a project folder, an editable install), other than
xptrack itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import sys
import sysconfig
import types
import weakref
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

#: How many of the user's functions and classes a fingerprint follows at most.
MAX_DEPENDENCIES = 200
_CONSTANTS = (int, float, complex, str, bytes, bool, type(None))


def code_fingerprint(func: Callable[..., Any], source: str) -> str:
    """A hex digest of ``source`` (the step's own, as captured) and of the user's code ``func``
    reaches; it changes when any of them changes (see the module docstring)."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass"))
    for name, text in sorted(dependencies(func)):
        digest.update(b"\0" + name.encode() + b"\0" + text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def dependencies(func: Callable[..., Any]) -> set[tuple[str, str]]:
    """(name, source) of each user function and class ``func`` reaches, and (name, ``repr``)
    of each simple constant. Names leave out the module: a script run as ``__main__`` and the
    same file imported as a module give the same fingerprint."""
    found: set[tuple[str, str]] = set()
    start = _unwrapped(func)
    seen: set[int] = {id(func), id(start)}
    stack = [start] if isinstance(start, types.FunctionType) else []
    while stack and len(found) < MAX_DEPENDENCIES:
        current = stack.pop()
        for name, value in _referenced(current):
            if isinstance(value, _CONSTANTS) or _is_constant_tuple(value):
                found.add((name, repr(value)))
            elif id(value) not in seen and _is_users(value):
                seen.add(id(value))
                found.add((value.__qualname__, _source_of(_unwrapped(value))))
                stack.extend(_functions_of(value))
    return found


def _referenced(func: types.FunctionType) -> Iterator[tuple[str, Any]]:
    """(name, value) of each global, ``module.attribute`` and closure value ``func`` uses."""
    names = _loaded_names(func.__code__)
    namespace = func.__globals__
    for name in names:
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, types.ModuleType):
            if _is_users(value):
                yield from ((n, getattr(value, n)) for n in names if hasattr(value, n))
        else:
            yield name, value
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
        try:
            yield name, cell.cell_contents
        except ValueError:  # an empty cell: the variable is not bound yet
            continue


def _loaded_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _loaded_names(constant)
    return names


def _functions_of(value: Any) -> list[types.FunctionType]:
    if isinstance(value, types.FunctionType):
        return [_unwrapped(value)]
    if isinstance(value, type):
        members = (_unwrapped(getattr(m, "__func__", m)) for m in vars(value).values())
        return [m for m in members if isinstance(m, types.FunctionType)]
    return []


def _unwrapped(func: Any) -> Any:
    inner = inspect.unwrap(func)
    return inner if isinstance(inner, types.FunctionType) else func


def _is_users(value: Any) -> bool:
    """True for a function, class or module of the user's own code."""
    if isinstance(value, types.ModuleType):
        module_name = value.__name__
    elif isinstance(value, types.FunctionType | type):
        module_name = getattr(value, "__module__", None) or ""
    else:
        return False
    return _is_users_module(module_name)


@lru_cache(maxsize=1024)
def _is_users_module(name: str) -> bool:
    if name.split(".")[0] == "xptrack":
        return False
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if file is None:
        return name == "__main__"  # an interactive session or a notebook
    path = Path(file).resolve()
    return not any(path.is_relative_to(root) for root in _library_roots())


@lru_cache(maxsize=1)
def _library_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots |= {p for p in sys.path if "site-packages" in p or "dist-packages" in p}
    return tuple(Path(root).resolve() for root in roots)


def _qualified(value: Any) -> str:
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"


#: Sources already read, per code object (functions) or class: reading one tokenizes it
#: (~0.1-2 ms), and a sweep fingerprints the same steps for every trial.
_sources: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _source_of(value: Any) -> str:
    """The source text, or (when it cannot be read) what the code object holds."""
    owner = getattr(value, "__code__", value)
    try:
        return _sources[owner]
    except (KeyError, TypeError):
        pass
    text = _read_source(value)
    with contextlib.suppress(TypeError):  # an owner that cannot be weakly referenced
        _sources[owner] = text
    return text


def _read_source(value: Any) -> str:
    try:
        return inspect.getsource(value)
    except (OSError, TypeError):
        code = getattr(value, "__code__", None)
        if code is None:
            return f"<no source: {_qualified(value)}>"
        return f"<bytecode {code.co_code.hex()} {_constants(code)} {code.co_names}>"


def _constants(code: types.CodeType) -> str:
    return repr([_constants(c) if isinstance(c, types.CodeType) else c for c in code.co_consts])


def _is_constant_tuple(value: Any) -> bool:
    return type(value) is tuple and all(
        isinstance(item, _CONSTANTS) or _is_constant_tuple(item) for item in value
    )
