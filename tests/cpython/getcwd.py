# expect-difference: stdout: code runs in the sandbox environment's own directory, not the directory run was started in
import os

print(os.getcwd())
