# %% Variables
import pandas as pd
n = 42
s = "héllo"
items = [1, 2, 3]
d = {"alpha": 1, "beta": [2, 3]}
df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
