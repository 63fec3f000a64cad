"""HTTP header storage for the opening handshake."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Protocol, TypeAlias

__all__ = ["Headers", "HeadersLike", "MultipleValuesError", "check_header"]

# RFC 7230 §3.2: field-name = token
_NAME_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 7230 §3.2: a field-value is visible characters, obs-text (here: any character
# beyond ASCII, sent as UTF-8), spaces and tabs — no control character, so no CR, LF or
# NUL that would end the header line early and let the rest forge another.
_VALUE_RE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")


def check_header(name: str, value: str) -> None:
    """Raise :exc:`ValueError` unless ``name: value`` can be written as one header line.

    Every header the library writes passes here, so that a value from the application
    (``additional_headers``, a response built by ``process_request``...) holding CR, LF
    or NUL fails with a clear error before anything is sent, instead of injecting header
    lines (RFC 7230 §3.2: field-name is a token, field-value has no control characters).
    """
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise ValueError(f"invalid HTTP header name: {name!r}")
    if not isinstance(value, str):
        raise TypeError(f"HTTP header {name} must be a str, not {type(value).__name__}")
    if _VALUE_RE.fullmatch(value) is None:
        raise ValueError(
            f"invalid value for HTTP header {name}: {value!r} "
            "(control characters such as CR, LF and NUL aren't allowed)"
        )


class MultipleValuesError(LookupError):
    """``headers[name]`` was used on a header that appears more than once."""

    def __str__(self) -> str:
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


class Headers(MutableMapping[str, str]):
    """Case-insensitive, order-preserving multi-map of HTTP headers.

    HTTP allows a header to appear several times, so ``headers[name]`` returns the
    single value and raises :exc:`MultipleValuesError` when there are several; use
    :meth:`get_all` for every value. Setting ``headers[name] = value`` *adds* a value,
    as writing a header line would; delete first to replace. A name that isn't an HTTP
    token or a value with a control character (CR, LF, NUL...) raises
    :exc:`ValueError` right there (see :func:`check_header`).
    """

    __slots__ = ["_dict", "_list"]

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._dict: dict[str, list[str]] = {}
        self._list: list[tuple[str, str]] = []
        self.update(*args, **kwargs)

    def __str__(self) -> str:
        return "".join(f"{key}: {value}\r\n" for key, value in self._list) + "\r\n"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._list!r})"

    def copy(self) -> Headers:
        copy = self.__class__()
        copy._dict = {key: list(values) for key, values in self._dict.items()}
        copy._list = list(self._list)
        return copy

    def serialize(self) -> bytes:
        return str(self).encode()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __getitem__(self, key: str) -> str:
        value = self._dict[key.lower()]
        if len(value) == 1:
            return value[0]
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        check_header(key, value)
        self._add(key, value)

    def _add(self, key: str, value: str) -> None:
        """Add a header known to pass :func:`check_header` by construction — a constant,
        a value the library computed, or a field the HTTP parser already matched against
        the same grammar — without checking it again. Anything else goes through
        ``headers[key] = value``."""
        self._dict.setdefault(key.lower(), []).append(value)
        self._list.append((key, value))

    def __delitem__(self, key: str) -> None:
        lowered = key.lower()
        del self._dict[lowered]
        self._list = [(k, v) for k, v in self._list if k.lower() != lowered]

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._dict == other._dict

    __hash__ = None  # type: ignore[assignment]  # mutable

    def clear(self) -> None:
        """Remove every header."""
        self._dict = {}
        self._list = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """Add the headers of one mapping, ``Headers`` or iterable of pairs, and of
        ``kwargs`` (values are appended), as :meth:`dict.update` takes them."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 argument, got {len(args)}")
        for arg in args:
            if isinstance(arg, Headers):
                pairs: Iterable[tuple[str, str]] = arg.raw_items()
            elif isinstance(arg, Mapping):
                pairs = arg.items()
            elif hasattr(arg, "keys"):
                mapping: SupportsKeysAndGetItem = arg  # type: ignore[assignment]
                pairs = ((k, mapping[k]) for k in mapping.keys())  # noqa: SIM118
            else:
                pairs = arg
            for key, value in pairs:
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def get_all(self, key: str) -> list[str]:
        """Every value of header ``key``, in order; an empty list if absent."""
        return self._dict.get(key.lower(), [])

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Every ``(name, value)`` pair, in order, names as they were given."""
        return iter(self._list)


class SupportsKeysAndGetItem(Protocol):  # pragma: no cover
    """Dict-like types with ``keys() -> str`` and ``__getitem__(key: str) -> str``."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str) -> str: ...


HeadersLike: TypeAlias = (
    Headers | Mapping[str, str] | Iterable[tuple[str, str]] | SupportsKeysAndGetItem
)
"""Types accepted wherever headers are passed in."""
