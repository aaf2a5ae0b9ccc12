class Empty(Exception):
    pass


class WithArgs(Exception):
    pass


try:
    raise WithArgs("a", 2)
except WithArgs as e:
    print(e)
raise Empty()
