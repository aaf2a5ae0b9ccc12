import sys

try:
    raise ValueError("oops")
except ValueError as e:
    sys.exit(f"fatal: {e}")
