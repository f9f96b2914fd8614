"""Drawing results: emoji over heads, text labels, rings, the side-panel picture."""
