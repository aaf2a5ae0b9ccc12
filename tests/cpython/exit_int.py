# sys.exit with an integer: no traceback, the integer is the exit status.
import sys

print("before")
sys.exit(3)
print("never")
