"""Running sessions: the host, a joiner, a one-shot sender. Commands call into here."""
