"""``python -m arerec.report``: deprecated, an alias of ``python -m arerec report`` for one release."""

import sys

from arerec.cli import main

print("python -m arerec.report is deprecated and goes in the next release: use python -m arerec report",
      file=sys.stderr)
sys.exit(main(["report", *sys.argv[1:]]))
