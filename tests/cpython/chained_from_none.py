try:
    [][1]
except IndexError:
    raise LookupError("nothing there") from None
