"""Uber's dispatch: driver locations in H3 cells in Redis, nearest-driver matching, owned areas."""
