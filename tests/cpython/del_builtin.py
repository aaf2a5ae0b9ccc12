print("deleting a builtin name that is not a global")
del print
