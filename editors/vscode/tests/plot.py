# %% A figure
import matplotlib.pyplot as plt
print("plotting")
plt.plot([1, 3, 2, 4])
plt.title("sandbox figure")
plt.show()

# %% A table
import pandas as pd
pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [4, 19]})
