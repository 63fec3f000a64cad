"""Sphinx extension: fail the build when a public name is missing from the API reference.

A *public module* is every module of the ``websocket_ref`` package whose dotted name has
no component starting with an underscore (``__main__`` excepted: it only runs the CLI).
Its *public names* are those in its ``__all__`` (or, without ``__all__``, the names it
defines that don't start with an underscore).

A public name counts as documented when the reference documents it under that module
(``websocket_ref.frames.Frame``) or documents the same object under the same name
elsewhere: ``websocket_ref.Frame`` is the object documented as
``websocket_ref.frames.Frame``, so re-exports needn't be documented twice. Each public
module must have its own ``py:module`` entry too.

Each missing name is reported as a warning (type ``api-coverage``); the docs build runs
with ``-W``, so a warning fails it. :func:`missing_names` is also importable, for tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the module also serves tests/test_docs.py, without Sphinx
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

PACKAGE = "websocket_ref"
#: Documented object types whose identity is checked against public names.
_OBJECT_TYPES = frozenset(
    {"class", "exception", "function", "data", "attribute", "method", "property", "type"}
)


def public_modules(package: str = PACKAGE) -> list[str]:
    """Dotted names of the package's public modules, the package itself first."""
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts):
            continue
        names.append(info.name)
    return sorted(names, key=lambda name: (name != package, name))


def public_names(module: types.ModuleType) -> list[str]:
    """The names a module offers: its ``__all__``, or the names it defines."""
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return list(exported)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType) or name == "annotations":
            continue
        defined_in = getattr(value, "__module__", module.__name__)
        if defined_in == module.__name__:
            names.append(name)
    return names


def _resolve(dotted: str) -> Any:
    """The object a documented dotted name refers to, or a sentinel if it can't be found."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            value: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                value = getattr(value, attribute)
        except AttributeError:
            return _MISSING
        return value
    return _MISSING


_MISSING = object()


def missing_names(documented: Iterable[tuple[str, str]]) -> list[str]:
    """Public modules and names that ``documented`` — (name, objtype) pairs — leaves out."""
    documented = list(documented)
    names = {name for name, _ in documented}
    identities: set[tuple[str, int]] = set()
    for name, objtype in documented:
        if objtype in _OBJECT_TYPES:
            value = _resolve(name)
            if value is not _MISSING:
                identities.add((name.rpartition(".")[2], id(value)))
    missing = []
    for module_name in public_modules():
        if module_name not in names:
            missing.append(f"module {module_name}")
        module = importlib.import_module(module_name)
        for name in public_names(module):
            if f"{module_name}.{name}" in names:
                continue
            value = getattr(module, name, _MISSING)
            if value is not _MISSING and (name, id(value)) in identities:
                continue
            missing.append(f"{module_name}.{name}")
    return missing


def _documented(env: BuildEnvironment) -> Iterator[tuple[str, str]]:
    domain = env.get_domain("py")
    for name, _dispname, objtype, _docname, _anchor, _priority in domain.get_objects():
        yield name, objtype


#: Documented names whose docstring is empty, filled while autodoc reads them.
_EMPTY: set[str] = set()


def record_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Remember public objects that autodoc found no docstring for."""
    if not any(line.strip() for line in lines):
        _EMPTY.add(name)
    else:
        _EMPTY.discard(name)


def undocumented(empty: Iterable[str]) -> list[str]:
    """The public names among ``empty`` (documented names without a docstring)."""
    public = set()
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        public.update(f"{module_name}.{name}" for name in public_names(module))
    return sorted(name for name in empty if name in public)


def check(app: Sphinx, env: BuildEnvironment) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    if not app.config.api_coverage_enabled:
        return
    for missing in missing_names(_documented(env)):
        logger.warning(
            "public name missing from the API reference: %s", missing, type="api-coverage"
        )
    for name in undocumented(_EMPTY):
        logger.warning("public name without a docstring: %s", name, type="api-coverage")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("api_coverage_enabled", True, "env")
    app.connect("autodoc-process-docstring", record_docstring)
    app.connect("env-check-consistency", check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":  # pragma: no cover - manual use: list the public names
    for module_name in public_modules():
        print(module_name)
        for name in public_names(importlib.import_module(module_name)):
            print(f"    {name}")
    sys.exit(0)
