from arerec.cli import main

main()
