# %% Plot
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [4, 1, 9])
plt.title("three points")
plt.show()
print("plotted")
