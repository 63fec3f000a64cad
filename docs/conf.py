"""Sphinx configuration of websocket_ref's documentation.

Build with ``make docs`` (tox env ``docs``): HTML with warnings as errors and nitpicky
cross-references, then the doctest builder, which runs every ``>>>`` sample of the pages.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the package, from the source tree
sys.path.insert(0, str(DOCS / "_ext"))

from websocket_ref.version import version as release  # noqa: E402

project = "websocket_ref"
author = "the websocket_ref authors"
copyright = "the websocket_ref authors"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.linkcode",  # [source] links to the line, in learn/source/ (learn_rfc)
    "myst_parser",
    "api_coverage",  # fails the build when a public name is missing from the reference
    "python_names",  # resolves names in docstrings as the module they're in sees them
    "learn_rfc",  # generates learn/: the RFC walkthrough, from the requirement registry
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]
root_doc = "index"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Every cross-reference must resolve: a renamed class or a typo in a docstring fails the
# build. Without network access there is no intersphinx inventory of the standard
# library, so references into it (and to builtins) are accepted as they are.
nitpicky = True
_STDLIB = frozenset(sys.stdlib_module_names) | {"builtins"}
_BUILTIN_NAMES = frozenset(dir(__builtins__) if isinstance(__builtins__, dict) else [])
_BUILTIN_NAMES |= frozenset(
    name for name in dir(__import__("builtins")) if not name.startswith("_")
)
nitpick_ignore_regex = [
    (r"py:.*", r"(%s)(\..*)?" % "|".join(sorted(_STDLIB))),  # noqa: UP031
    (r"py:.*", r"(%s)(\..*)?" % "|".join(sorted(_BUILTIN_NAMES))),  # noqa: UP031
    (r"py:.*", r"(None|Ellipsis|ellipsis|NoneType|Any|Callable|Awaitable|Iterable|Sequence)"),
    # Private typing helpers that appear in signatures.
    (r"py:class", r"websocket_ref\.datastructures\.SupportsKeysAndGetItem"),
    (r"py:class", r"websocket_ref(\.\w+)*\._\w+"),
    # Optional third-party dependencies, without an inventory offline either.
    (r"py:.*", r"(werkzeug\..*|Map|ssl_module\..*)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
autodoc_preserve_defaults = True
autoclass_content = "both"
python_use_unqualified_type_names = True

doctest_global_setup = """
import websocket_ref
"""

html_theme = "furo"
html_title = f"websocket_ref {release}"
html_static_path: list[str] = []
html_theme_options = {
    "source_edit_link": None,
    "navigation_with_keys": True,
}


def linkcode_resolve(domain: str, info: dict[str, str]) -> str | None:
    """[source] links of the API reference: the object's first line in the highlighted
    copy of its file that docs/_ext/learn_rfc.py writes (every reference page is in
    reference/)."""
    import importlib
    import inspect

    from learn_rfc import source_url

    if domain != "py" or not info.get("module"):
        return None
    module = importlib.import_module(info["module"])
    value: object = module
    for part in info["fullname"].split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    if isinstance(value, property) and value.fget is not None:
        value = value.fget
    try:
        source = inspect.getsourcefile(inspect.unwrap(value))  # type: ignore[arg-type]
        line: int | None = inspect.getsourcelines(value)[1]  # type: ignore[arg-type]
    except (TypeError, OSError):  # data, aliases: the module's file
        source, line = inspect.getsourcefile(module), None
    if source is None:
        return None
    path = Path(source).resolve()
    if ROOT / "websocket_ref" not in path.parents:
        return None
    return source_url(path, line, from_dir="reference")


def _enum_signature(
    app: object,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    """Enums are used by member, never called: show ``class State``, not Enum's signature."""
    import enum

    if what == "class" and isinstance(obj, type) and issubclass(obj, enum.Enum):
        return "", None
    return None


def setup(app: object) -> None:
    app.connect("autodoc-process-signature", _enum_signature)  # type: ignore[attr-defined]
