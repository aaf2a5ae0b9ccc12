print("this line never runs: the file does not compile")


def f(x):
    return x +* 2
