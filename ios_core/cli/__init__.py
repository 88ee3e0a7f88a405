"""``python -m ios_core`` and the ``ios-explorer`` console script."""
