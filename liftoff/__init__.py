"""Liftoff's command line: `liftoff up`, `api`, `pull`, `doctor`."""
