"""Service start-up tunes the garbage collector once."""

from __future__ import annotations

import gc

from lorakeet import gctune


def test_tune_freezes_and_raises_thresholds_once() -> None:
    before = gc.get_threshold()
    was = gctune._tuned
    try:
        gctune._tuned = False
        assert gctune.tune() is True
        assert gc.get_threshold() == gctune.THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert gctune.tune() is False  # once per process
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        gctune._tuned = was
