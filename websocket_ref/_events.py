"""The list :meth:`Protocol.events_received` returns while a server awaits its decision.

It lives apart from :mod:`websocket_ref.protocol` because that module can be compiled
with mypyc, which can't compile a subclass of ``list``; this one stays Python.
:mod:`websocket_ref.protocol` exports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol import Event

__all__ = ["ReleasingEvents"]


class ReleasingEvents(list["Event"]):
    """What :meth:`Protocol.events_received` returns while a server awaits its decision.

    A server holds back the bytes that arrive behind the handshake request until the
    application sent the response (the frames' rules depend on the extensions that the
    response negotiates). Sending it releases them: iterating over this list goes on
    with the events released meanwhile that nobody took yet, so the usual loop — for each
    event, send_response() when it's the request — sees frames that the client sent
    right behind its request, as soon as the connection is OPEN, without waiting for
    more data that such a client (waiting for an answer) won't send.
    """

    __slots__ = ("_more",)

    def __init__(self, events: Iterable[Event], more: Callable[[], list[Event]]) -> None:
        super().__init__(events)
        # Takes the events the protocol received since, as events_received() would.
        self._more = more

    def __iter__(self) -> Iterator[Event]:
        index = 0
        while True:
            while index < len(self):
                yield self[index]
                index += 1
            more = self._more()
            if not more:
                return
            self.extend(more)
