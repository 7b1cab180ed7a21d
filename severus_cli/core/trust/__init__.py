"""Identity and trust: keys, fingerprints, tickets, known hosts and known peers."""
