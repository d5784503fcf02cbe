"""``python -m diverse_marl``: the CLI (guarded, so importing the module, as doc tools do, runs nothing)."""

import sys

from diverse_marl.cli import main

if __name__ == "__main__":
    sys.exit(main())
