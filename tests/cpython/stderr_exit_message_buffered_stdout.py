import sys

print("stdout line")
print("stderr line", file=sys.stderr)
raise SystemExit("goodbye")
