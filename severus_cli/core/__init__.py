"""Sans-IO core: protocol, session, routing and trust decisions (no sockets, no clock)."""
