"""Files on disk: where they live, crash-safe writes, and config.toml."""
