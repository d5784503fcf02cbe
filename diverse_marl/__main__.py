import sys

from diverse_marl.cli import main

sys.exit(main())
