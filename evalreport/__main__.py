import sys

from .entry import prepare

prepare(sys.argv[1:])
# imported here, not from inside a function: that made a small `check` 3% slower under python -m
# (Python 3.11, paired medians; the console script shows no such difference)
from .cli import main  # noqa: E402

main()
