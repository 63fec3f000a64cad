"""WebSocket extensions (RFC 6455 §9) and their negotiation framework."""

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]
