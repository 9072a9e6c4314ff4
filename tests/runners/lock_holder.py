"""Holds a run folder's lock in a separate process until stdin closes: ``python lock_holder.py FOLDER``."""

import sys
from pathlib import Path

from fedmkt.runners.lock import held

with held(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
