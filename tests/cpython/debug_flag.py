if __debug__:
    print("debug on")
else:
    print("debug off")
assert True, "fine"
x = 1
assert x == 2, f"x is {x}, not 2"
