# How deep the user's code can go before RecursionError: the same as python3 FILE.
depth = 0


def probe():
    global depth
    depth += 1
    probe()


try:
    probe()
except RecursionError:
    print("RecursionError at depth", depth)
