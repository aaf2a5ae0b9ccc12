# rerun-difference: stdout: a whole-file run does not start from an empty namespace: what the earlier run in the environment defined is still there
print(sorted(name for name in globals() if not name.startswith("__")))
defined_here = 1
