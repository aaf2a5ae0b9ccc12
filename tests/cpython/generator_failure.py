def numbers():
    yield 1
    yield 2
    raise StopIteration("inside a generator")


def consume():
    return [n for n in numbers()]


print(list(x * 2 for x in range(3)))
consume()
