# Names the machinery might use, rebound by the user in __main__.
import sys


def compile(*args, **kwargs):
    raise RuntimeError("user compile")


def exec(*args, **kwargs):
    raise RuntimeError("user exec")


def eval(*args, **kwargs):
    raise RuntimeError("user eval")


def globals():
    raise RuntimeError("user globals")


def __import__(*args, **kwargs):
    raise RuntimeError("user __import__")


def len(x):
    return -1


def repr(x):
    return "user repr"


def str(x):
    return "user str"


def isinstance(a, b):
    return False


def getattr(*args):
    raise RuntimeError("user getattr")


def max(*args):
    return -1


def int(x=0):
    return -1


json = "not the json module"
types = None
ast = None
traceback = None
linecache = None
time = None
dict = list
type = None
Exception = None
BaseException = None
SystemExit = None
__name__ = "__main__"
sys.stdout.write("shadowed everything\n")
print("print still works", len("abc"))


def fail():
    return 1 / 0


fail()
