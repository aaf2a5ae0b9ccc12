import sys


def print(*args, **kwargs):
    sys.stdout.write("custom: " + " ".join(map(repr, args)) + "\n")


print("hello", 42)
raise ValueError("after shadowing print")
