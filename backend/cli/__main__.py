"""`python -m backend.cli ...` is the `cosmos` command."""

import sys

from backend.cli.main import main

sys.exit(main())
