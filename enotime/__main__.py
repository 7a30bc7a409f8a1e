"""``python -m enotime`` is the ``enotime`` command."""

import sys

from enotime._cli import main

sys.exit(main())
