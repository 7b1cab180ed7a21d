"""Reaching a host through NATs: the relay, hole punching, STUN and router port mapping."""
