"""The version of websocket_ref."""

#: The version of the package, as in ``pip show websocket-ref``.
version = "0.1.0"
