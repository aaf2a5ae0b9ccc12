import os
import sys
from pathlib import Path

print(__file__)
print(Path(__file__).parent.name == Path(sys.argv[0]).parent.name)
print(sys.argv)
print(len(sys.argv))
print(os.path.isabs(__file__))
here = Path(__file__).parent
print((here / "data.txt").name)
