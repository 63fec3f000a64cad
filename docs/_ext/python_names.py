"""Sphinx extension: resolve cross-references in docstrings the way Python resolves names.

Docstrings and type hints name things as the module they're in sees them: ``InvalidStatus``
imported from :mod:`websocket_ref.exceptions`, ``websocket_ref.ClientProtocol`` re-exported
by the package, ``Subprotocol`` (an alias of ``str``) from :mod:`websocket_ref.headers`.
Sphinx only knows the names things are *documented* under, so this extension

* resolves a reference Sphinx can't find by evaluating its target in the module (and
  class) it appears in, then linking to the documented name of the same object; and
* when a short name matches objects in two modules (``Connection`` exists in both
  ``asyncio`` and ``sync``), prefers the one closest to the module the reference is in.

Nitpicky mode stays strict: a name that is neither documented nor importable from where
it's used is still reported.
"""

from __future__ import annotations

import importlib
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.domains.python import PythonDomain
from sphinx.environment import BuildEnvironment
from sphinx.util.nodes import make_refnode

_MISSING = object()


def _lookup(modname: str | None, classname: str | None, target: str) -> Any:
    """``target`` evaluated in module ``modname`` (and class ``classname``), or _MISSING."""
    scopes: list[Any] = []
    if modname:
        try:
            module = importlib.import_module(modname)
        except ImportError:
            module = None
        if module is not None:
            if classname:
                cls: Any = module
                for part in classname.split("."):
                    cls = getattr(cls, part, None)
                if cls is not None:
                    scopes.append(cls)
            scopes.append(module)
    for scope in scopes:
        value: Any = scope
        try:
            for part in target.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        return value
    # An absolute dotted name: websocket_ref.ClientProtocol.
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                value = getattr(value, part)
        except AttributeError:
            return _MISSING
        return value
    return _MISSING


def _documented_as(domain: PythonDomain, value: Any, short: str) -> str | None:
    """The documented name of ``value``: same object and same last component."""
    candidates = []
    for name, entry in domain.objects.items():
        if name.rpartition(".")[2] != short or entry.aliased:
            continue
        if _lookup(None, None, name) is value:
            candidates.append(name)
    if len(candidates) == 1:
        return candidates[0]
    qualname = getattr(value, "__qualname__", None)
    module = getattr(value, "__module__", None)
    if qualname and module and f"{module}.{qualname}" in candidates:
        return f"{module}.{qualname}"
    # The same alias documented in two modules (websocket_ref.typing gathers them): any
    # of them is right; pick one deterministically.
    return min(candidates, key=lambda name: (len(name), name)) if candidates else None


def missing_reference(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.reference | None:
    if node.get("refdomain") != "py":
        return None
    target: str = node["reftarget"].lstrip("~.")
    modname = node.get("py:module")
    value = _lookup(modname, node.get("py:class"), target)
    domain = env.get_domain("py")
    assert isinstance(domain, PythonDomain)
    short = target.rpartition(".")[2]
    if value is not _MISSING:
        name = _documented_as(domain, value, short)
    else:
        # Imported only for type checking (``if TYPE_CHECKING:``): the documented object
        # of that name closest to the module the reference is in.
        same = [(n, e) for n, e in domain.objects.items() if n.endswith(f".{target}")]
        closest = _closest(modname, same)
        name = closest[0][0] if len(closest) == 1 else None
    if name is None:
        return None
    entry = domain.objects[name]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def _closest(modname: str | None, matches: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Among several matches, those sharing the longest module prefix with ``modname``."""
    if not modname or len(matches) < 2:
        return matches
    here = modname.split(".")

    def shared(name: str) -> int:
        count = 0
        for a, b in zip(here, name.split("."), strict=False):
            if a != b:
                break
            count += 1
        return count

    best = max(shared(name) for name, _ in matches)
    return [match for match in matches if shared(match[0]) == best]


_original_find_obj = PythonDomain.find_obj


def find_obj(
    self: PythonDomain,
    env: BuildEnvironment,
    modname: str,
    classname: str,
    name: str,
    type: str | None,  # Sphinx's signature
    searchmode: int = 0,
) -> list[tuple[str, Any]]:
    matches = _original_find_obj(self, env, modname, classname, name, type, searchmode)
    return _closest(modname, matches)


def setup(app: Sphinx) -> dict[str, Any]:
    PythonDomain.find_obj = find_obj  # type: ignore[method-assign]
    app.connect("missing-reference", missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
