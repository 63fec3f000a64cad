"""The version of websocket_ref."""

version = "0.1.0"
