def check(values):
    assert all(v > 0 for v in values)


check([1, 2, 3])
check([1, -2, 3])
