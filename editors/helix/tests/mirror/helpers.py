"""Helpers the analysis imports: it runs only if helpers.py is in the sandbox."""


def total(rows):
    return sum(int(row["amount"]) for row in rows)
