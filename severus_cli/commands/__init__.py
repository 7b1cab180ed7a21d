"""Thin command implementations: parse, call the core, report."""
