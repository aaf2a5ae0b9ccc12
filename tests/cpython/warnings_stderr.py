import warnings

print("start")
warnings.warn("this is deprecated-ish")
warnings.warn("this is deprecated", DeprecationWarning)


def helper():
    warnings.warn("from a function", RuntimeWarning, stacklevel=2)


helper()
for _ in range(3):
    warnings.warn("once per location")
print("end")
