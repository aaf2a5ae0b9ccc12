counter = 0


def bump():
    global counter
    counter += 1
    return counter


def broken():
    global missing_name
    return missing_name + 1


bump()
bump()
print("counter", counter)
broken()
