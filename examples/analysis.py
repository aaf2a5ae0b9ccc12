# A small notebook-style script: each `# %%` line starts a cell that the
# editor (or `azure-sandbox-lsp run examples/analysis.py --cell N`) can run
# on its own, in one sandbox environment that keeps state between runs.

# %% Load
import statistics

temperatures = [12.5, 14.1, 13.8, 17.2, 19.9, 18.4, 15.0]
print(f"{len(temperatures)} readings")

# %% Summarise
mean = statistics.mean(temperatures)
spread = statistics.stdev(temperatures)
print(f"mean {mean:.2f}, stdev {spread:.2f}")
round(mean, 2)


# %% Normalise (raises when the spread is zero)
def normalise(values, centre, scale):
    return [(v - centre) / scale for v in values]


print(normalise(temperatures, mean, spread)[:3])
