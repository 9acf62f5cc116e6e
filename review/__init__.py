"""Pull-request review: `python -m review BASE [HEAD]` (see __main__.py)."""
