"""``python -m gempy.sim``: the simulator command line."""

import sys

from .cli import main

sys.exit(main())
