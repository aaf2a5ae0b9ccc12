import io
import sys

buffer = io.StringIO()
sys.stdout = buffer
print("captured")
sys.stdout = sys.__stdout__
print("got", repr(buffer.getvalue()))
sys.stdout = sys.stderr
print("this goes to stderr")
