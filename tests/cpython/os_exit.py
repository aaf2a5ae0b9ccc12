# expect-difference: status, stderr: os._exit ends the sandbox's interpreter itself, so the run is reported as stopped (status 1) and the environment's state is lost
import os

print("buffered, then lost by python3 because os._exit does not flush")
os._exit(5)
