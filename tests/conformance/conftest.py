"""Make the harness package importable without putting the repository root on sys.path.

Putting the root on sys.path would make the rest of the suite import websocket_ref from the
source tree instead of the installed wheel tox builds, so only ``conformance`` is loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[2] / "conformance"

if "conformance" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "conformance", _PACKAGE / "__init__.py", submodule_search_locations=[str(_PACKAGE)]
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["conformance"] = _module
    _spec.loader.exec_module(_module)
