"""Run-time code every service of the stack shares, written once."""
