# comment with a vertical tab  here
x = [1]
print(x[3])
