"""``python -m mtlsgate`` is the ``mtlsgate`` command."""

import sys

from .cli import main

sys.exit(main())
