"""``python -m tnd``: the same command line as ``tnd``."""

import sys

from tnd.cli.main import main

sys.exit(main())
