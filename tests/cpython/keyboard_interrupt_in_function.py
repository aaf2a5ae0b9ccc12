import sys


def long_job():
    sys.stdout.write("step 1\n")
    raise KeyboardInterrupt()


long_job()
