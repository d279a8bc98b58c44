import sys

from .entry import let_go, prepare

prepare(sys.argv[1:])
# the CLI imported here, not from inside a function (entry.main): that made a small `check` 3% slower
# under python -m (Python 3.11, paired medians; the console script shows no such difference)
try:
    from .cli import main

    main()
except KeyboardInterrupt:  # before the CLI handles it itself (while Typer loads): the same quiet exit
    sys.exit(130)
finally:
    let_go()
