x = 1
print("crlf", x)

def f():
    return 1 / 0

f()
