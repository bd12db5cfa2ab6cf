"""``--drpkg rerun_drpkg``: registers the re-run test primitives and recipes for f2."""

import rerun_prims

rerun_prims.register()
