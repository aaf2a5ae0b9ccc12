# %% Plot
import matplotlib.pyplot as plt
print("plotting")
plt.plot([1, 2, 3], [4, 1, 9])
plt.title("three points")
plt.show()
print("done")
for i in range(3):
    print("line", i)

# %% Table
import pandas as pd
pd.DataFrame({"a": [1, 2], "b": [3, 4]})
