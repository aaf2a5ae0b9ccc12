import sys


def inner():
    try:
        sys.exit(2)
    finally:
        print("finally runs before the exit")


def outer():
    inner()


outer()
