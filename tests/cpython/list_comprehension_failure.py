data = {"a": 1, "b": 2}
print([k for k in data])
values = [data[k] for k in ["a", "b", "c"]]
