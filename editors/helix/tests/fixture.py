# %% Setup 🙂
import math

def ratio(a, b):
    return a / b

# %% Use 中文
print('héllo →')
ratio(1, 0)
