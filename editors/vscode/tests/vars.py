# %% Live state
import pandas as pd
n = 42
items = [1, 2, 3]
d = {"alpha": 1, "beta": [2, 3]}
df = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "temp": [4, 19, 31]})

# %% Uses them (never run)
print(n, items, d)
total = df["temp"].sum()
