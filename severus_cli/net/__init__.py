"""Asyncio adapters: thin layers that move bytes between sockets and the sans-IO core."""
