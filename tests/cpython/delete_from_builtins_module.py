# expect-difference: stdout, traceback, exception, stderr: the sandbox's own Python code shares the interpreter and needs the builtins; the local sandbox's worker ends when len is deleted from the builtins module, and the run is reported as a lost interpreter
import builtins

print("deleting len from the builtins module")
del builtins.len
len([1, 2])
