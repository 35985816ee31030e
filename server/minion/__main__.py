"""`python -m minion`: the `minion` command."""

import sys

from minion.launcher import main

sys.exit(main())
