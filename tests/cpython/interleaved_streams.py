import sys

for i in range(5):
    print("out", i)
    print("err", i, file=sys.stderr)
sys.stderr.write("no newline on stderr")
sys.stderr.flush()
print("last out")
