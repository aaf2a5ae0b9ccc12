import math

print(math.pi / 0)
