import inspect


def documented(a, b=2):
    """Adds."""
    return a + b


print(inspect.getsource(documented), end="")
print(inspect.getsourcelines(documented)[1])
