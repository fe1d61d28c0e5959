"""``python -m arerec.report run|data|params|check|index``: see :mod:`arerec.report.runner`."""

import sys

from arerec.report.runner import main

sys.exit(main())
