import sys
import traceback


def fail():
    raise KeyError("k")


try:
    fail()
except KeyError:
    traceback.print_exc()
    print("type:", sys.exc_info()[0].__name__)
print("continues")
