def scale(x):
    return x * 10


def explode():
    raise RuntimeError("raised inside an imported local module")
