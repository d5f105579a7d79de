"""Uber's decisions as plain code: geometry, the H3 ring search, trips, surge. No I/O here."""
