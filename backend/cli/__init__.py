"""The `cosmos` command: main.py (verbs), parser.py, format.py, progress.py."""
