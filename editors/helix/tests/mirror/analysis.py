"""Runs only in a sandbox that has the workspace's files: it imports helpers.py,
reads data/sales.csv and writes out.csv."""
import csv
from pathlib import Path

from helpers import total

# Relative to the working directory, and to this file.
with open("data/sales.csv") as f:
    rows = list(csv.DictReader(f))
with open(Path(__file__).parent / "data" / "sales.csv") as f:
    assert list(csv.DictReader(f)) == rows

result = total(rows)
print(f"total: {result}")
with open("out.csv", "w") as f:
    f.write(f"total\n{result}\n")
