"""``python -m fleet_cli``: the same as ``fleetctl``."""

import sys

from fleet_cli.main import main

sys.exit(main())
