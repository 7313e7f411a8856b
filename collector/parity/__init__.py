"""Parity evaluation: statistics, layer checks and fingerprint diffs."""
