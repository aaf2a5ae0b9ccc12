import os

print(os.path.basename(__file__))
raise ValueError("from a file with a non-ASCII name")
