# A whole file's trailing expression is evaluated, but its value is not shown.
class Loud:
    def __repr__(self):
        print("repr was called")
        raise RuntimeError("repr must not be called")


print("the file runs")
Loud()
