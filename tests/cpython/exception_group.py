import sys

if sys.version_info < (3, 11):
    raise SystemExit("needs 3.11")


def task(n):
    raise ValueError(f"task {n} failed")


errors = []
for n in range(2):
    try:
        task(n)
    except ValueError as e:
        errors.append(e)
try:
    raise ExceptionGroup("several tasks failed", errors)
except* TypeError:
    print("no type errors")
