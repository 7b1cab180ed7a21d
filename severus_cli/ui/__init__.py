"""Terminal user interface: rendering, input parsing and the terminal itself."""
