rows = [[1, 2], [3, 0]]
ratios = {i: [a / b for a, b in [row]] for i, row in enumerate(rows)}
