"""The host's routing brain and what it enforces, sans-IO."""
