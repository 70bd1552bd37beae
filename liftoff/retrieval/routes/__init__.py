"""Thin route modules: parse, call the service layer, shape the answer."""
