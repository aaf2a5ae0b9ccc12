def f(x):
	if x:
		y = 1
		return y / 0
	return 0


print("tabs")
f(True)
