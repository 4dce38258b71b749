"""The progress callback that long steps take: ``progress(done, total)``, called as items finish."""

from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int], None]  # (items done, items in all)
