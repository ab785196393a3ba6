"""`python -m homeward COMMAND`: the same as the `homeward` command (homeward.cli)."""

import sys

from homeward.cli import main

sys.exit(main())
