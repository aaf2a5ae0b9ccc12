items = [3, 1, "two"]
key = lambda x: x + 0  # noqa: E731
print(sorted(items[:2], key=key))
sorted(items, key=key)
