"""The wire: frames, field checks, packets and the Noise hop session (PROTOCOL.md 2-4)."""
