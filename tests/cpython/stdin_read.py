import sys

data = sys.stdin.read()
print(repr(data), sys.stdin.isatty())
