# The VS Code test's workspace mirror file: it reads what "Send to Sandbox"
# sent (extra/ and local-notes.txt are in .gitignore, so the sync before a
# run never sends them) and writes report.csv in the sandbox's copy of the
# workspace, for List Sandbox Files and Fetch Files from Sandbox to bring home.
import csv

with open("extra/rates.csv") as f:
    rates = list(csv.DictReader(f))
note = open("local-notes.txt").read().strip()
with open("report.csv", "w") as out:
    out.write("currency,rate,note\n")
    for row in rates:
        out.write(f"{row['currency']},{float(row['rate']) * 2},{note}\n")
print(f"report written: {len(rates)} rows")
