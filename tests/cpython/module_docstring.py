"""The module's docstring."""

print(__doc__)
