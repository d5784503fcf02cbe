"""diverse-marl: find many good, different strategies in multi-agent games."""
from __future__ import annotations

__version__ = "0.1.0"
