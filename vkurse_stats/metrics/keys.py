"""Bit layouts of the engine's packed endpoint keys (engine.py packs them, kernels.py reads)."""

TIME_BITS = 37  # microseconds within a (25-hour at most) day
CAT_BITS = 3
DAY_SHIFT = TIME_BITS + 1 + CAT_BITS  # day | time-in-day | is_start | category
BLOCK_SHIFT = TIME_BITS + 3  # block | time-in-day | is_start | class (2 bits)
NO_TIME = -1
