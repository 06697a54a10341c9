"""Shared test helpers: tiny generated data, the scratch project, the import scan."""
