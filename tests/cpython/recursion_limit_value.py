# expect-difference: stdout: the limit is raised by the levels the sandbox's own frames use, so that the code gets python3's room; sys.getrecursionlimit() reads that much higher
import sys

print(sys.getrecursionlimit())
