"""Real local servers for native runs and tests, and the native stack runner.

These are development servers started in throw-away data directories on free ports; docker
compose runs the official images instead.
"""
