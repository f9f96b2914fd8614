"""Per-face tracking: stable ids and each face's window of crops."""
