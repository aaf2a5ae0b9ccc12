# rerun-difference: stdout, traceback: the builtins module is shared by every run in an environment, and the first run left print set to None
import builtins

original = builtins.print


def shouting(*args, **kwargs):
    original(*(str(a).upper() for a in args), **kwargs)


builtins.print = shouting
print("patched print")
builtins.print = original
print("restored")
original_len = builtins.len
builtins.len = lambda value: 42
print(len([1, 2]))
builtins.len = original_len
print(len([1, 2]))
builtins.print = None
print("print is None now")
