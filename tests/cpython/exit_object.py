# A non-integer, non-string code: str() of it on stderr, status 1.
import sys

sys.exit(["a", 1, None])
