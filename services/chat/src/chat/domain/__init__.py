"""Pure chat logic: no I/O."""
