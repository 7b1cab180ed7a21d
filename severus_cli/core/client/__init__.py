"""A participant's side, sans-IO: registration, rooms, requests and what the UI is told."""
