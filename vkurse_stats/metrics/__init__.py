"""Metric definitions, the peak engine, rollups and the one query API every surface reads."""
