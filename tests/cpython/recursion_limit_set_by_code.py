# expect-difference: stdout: after sys.setrecursionlimit(N) in the code, the sandbox's own frames count against N, so the code gets a few levels fewer than under python3
import sys

sys.setrecursionlimit(3000)
depth = 0


def probe():
    global depth
    depth += 1
    probe()


try:
    probe()
except RecursionError:
    print("RecursionError at depth", depth)
