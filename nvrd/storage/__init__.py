"""Recording volumes: identity, catalog, crash recovery, retention and the writers."""
