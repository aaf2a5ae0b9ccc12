def gen():
    try:
        yield 1
    except ValueError:
        yield "handled"
    yield 1 / 0


g = gen()
print(next(g))
print(g.throw(ValueError("thrown")))
next(g)
