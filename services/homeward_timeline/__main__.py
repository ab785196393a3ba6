"""`python -m homeward_timeline`: see homeward_timeline.cli."""

import sys

from homeward_timeline.cli import main

sys.exit(main())
