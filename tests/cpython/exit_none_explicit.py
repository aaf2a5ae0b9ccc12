import sys

sys.stdout.write("partial line, then exit(None)")
sys.exit(None)
