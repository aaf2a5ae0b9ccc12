from os.path import *
from math import *

print(join("a", "b"), floor(2.7), basename("/x/y.txt"))
print(sqrt(-1))
