import subprocess
import sys

print("from python, first", flush=True)
subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"])
print("from python, last")
