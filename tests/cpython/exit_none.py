# sys.exit() and sys.exit(None) are success.
import sys

print("bye")
sys.exit()
