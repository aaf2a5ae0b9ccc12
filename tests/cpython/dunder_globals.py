print(__name__, __doc__, __package__, __spec__)
print(__builtins__.__name__ if hasattr(__builtins__, "__name__") else type(__builtins__))
print("__file__" in globals(), "__cached__" in globals(), __annotations__)
