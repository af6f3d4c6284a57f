"""Transports decode frames, authenticate the connection, and nothing else:
every request goes to the api dispatcher."""
