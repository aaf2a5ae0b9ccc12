def level_three(n):
    return 10 / n


def level_two(n):
    return level_three(n - 1) + 1


def level_one(n):
    def closure():
        return level_two(n)

    return closure()


print(level_one(3))
print(level_one(1))
