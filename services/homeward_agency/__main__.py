"""`python -m homeward_agency`: see homeward_agency.cli."""

import sys

from homeward_agency.cli import main

sys.exit(main())
