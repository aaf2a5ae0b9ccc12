# expect-difference: stdout: the sandbox's stdout is line-buffered, as in a terminal; python3 writing to a pipe buffers it, so its child's output comes first
import subprocess
import sys

print("from python, first")
subprocess.run([sys.executable, "-c", "print('from a child process')"])
print("from python, last")
