"""`python -m dispatcher.cli`: the `jiaoying` command."""

import sys

from dispatcher.cli import main

sys.exit(main())
