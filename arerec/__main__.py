import sys

from arerec.malloc_tuning import reexec_tuned

reexec_tuned(["-m", "arerec", *sys.argv[1:]])

from arerec.cli import main  # noqa: E402

main()
