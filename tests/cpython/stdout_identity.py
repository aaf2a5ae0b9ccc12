# expect-difference: stdout: during a run sys.stdout and sys.stderr are the tool's recorders, which forward every write to the real streams, so that output cut by the service's cap can be fetched whole
import sys

print(sys.stdout is sys.__stdout__, sys.stderr is sys.__stderr__)
