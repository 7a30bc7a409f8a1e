"""``python -m examples.cluster``: see :mod:`examples.cluster.run`."""

from __future__ import annotations

import sys

from examples.cluster.run import main

sys.exit(main())
