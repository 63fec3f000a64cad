"""What mypyc needs from the source, importable without mypy.

The hot path (see ``setup.py``: the frame parser, the protocol core and its client
and server sides, the asyncio connection) can be compiled with mypyc; the Python
source stays the reference and the fallback. Classes that interpreted code subclasses
(users' protocol and connection classes) say so with
``@mypyc_attr(allow_interpreted_subclasses=True)``, which mypyc reads at compile time;
at run time it's a no-op either way. What a compiled class can't do as a Python class
does is done here, for both builds: a module ``__getattr__`` (:func:`renamed_names`),
an instance replacing a method (:func:`replaceable_method`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

__all__ = ["mypyc_attr", "compiled", "renamed_names", "replaceable_method"]

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:

    def mypyc_attr(*attrs, **kwattrs):
        return lambda cls: cls


def compiled() -> bool:
    """True if the protocol core runs compiled by mypyc, False if it runs as Python."""
    from . import protocol

    return not (protocol.__file__ or "").endswith(".py")


def renamed_names(
    module: str, renamed: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], object]:
    """A module ``__getattr__`` (PEP 562) for deprecated names, for compiled modules.

    ``renamed`` maps each old name to the new one, found in ``namespace`` (the module's
    ``globals()``); getting an old name warns with :exc:`DeprecationWarning`. mypyc can't
    compile a module that defines ``__getattr__``: such a module installs this one with
    ``globals()["__getattr__"] = renamed_names(__name__, {...}, globals())``. Defined
    here, in a module that's never compiled, the warning points at the caller either way.
    """

    def __getattr__(name: str) -> object:
        new = renamed.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{name} was renamed to {new}", DeprecationWarning, stacklevel=2)
        return namespace[new]

    return __getattr__


class _ReplaceableMethod:
    """The descriptor :func:`replaceable_method` installs: see there."""

    def __init__(self, function: Any, storage: str) -> None:
        self.function = function
        self.storage = storage
        self.__doc__ = function.__doc__

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:  # on the class: the method itself, as without this
            return self.function
        replacement = getattr(instance, self.storage)
        if replacement is not None:
            return replacement
        return self.function.__get__(instance, owner)

    def __set__(self, instance: object, value: object) -> None:
        setattr(instance, self.storage, value)

    def __delete__(self, instance: object) -> None:
        setattr(instance, self.storage, None)


def replaceable_method(cls: type, name: str, storage: str) -> None:
    """Let instances of ``cls`` replace its method ``name`` by assigning the attribute.

    In Python, ``obj.method = f`` stores ``f`` in the instance's ``__dict__``, where it
    shadows the class's method; websockets' API relies on it
    (``protocol.select_subprotocol = ...``). A class compiled with mypyc has no
    instance ``__dict__``: this puts a descriptor in place of the method that keeps
    the replacement in the attribute ``storage`` (declared by the class, None when
    there's none) instead, and otherwise behaves as the method: on the class it's
    the function itself, on an instance the bound method, or the replacement once
    one is assigned (``del obj.name`` removes it). A subclass's own method still
    overrides it, and instances of a subclass (which have a ``__dict__``) store a
    replacement there, as usual. Installed on both builds, so that they behave the
    same. Compiled code must look the method up with ``getattr(obj, name)``:
    ``obj.name(...)`` is a direct native call to the class's method.
    """
    setattr(cls, name, _ReplaceableMethod(vars(cls)[name], storage))
