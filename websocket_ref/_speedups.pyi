"""Type stub of the optional C accelerator (websocket_ref/_speedups.c)."""

from typing_extensions import Buffer

def apply_mask(data: Buffer, mask: Buffer, /) -> bytes: ...
