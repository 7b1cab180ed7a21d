"""End-to-end encryption between participants: the host relays only ciphertext.

``pairwise`` runs a Noise_XX session between two participants through the host, for
private messages and for handing out room keys; ``sender_keys`` encrypts a room message
once for every member (one key per sender, room and epoch, with a symmetric ratchet and
an Ed25519 signature so members cannot forge one another).
"""
