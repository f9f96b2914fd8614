"""Training side (optional extra, PyTorch): networks, datasets, export. Never imported by the live path."""
