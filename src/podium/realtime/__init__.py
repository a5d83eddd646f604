"""Events on the move: the bus between services and connections, and the WebSocket gateway."""
