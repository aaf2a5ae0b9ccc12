# expect-difference: stdout: a run does not end its interpreter, so atexit handlers run when the environment ends, not after the run
import atexit


def goodbye():
    print("goodbye from atexit")


atexit.register(goodbye)
print("main done")
