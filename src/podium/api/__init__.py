"""HTTP and WebSocket handlers: parse, authenticate, call a service, serialise."""
