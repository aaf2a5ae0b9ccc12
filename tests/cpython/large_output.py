# A lot of output: far beyond the service's 4,096-character cap.
for i in range(20000):
    print(i, "x" * (i % 50))
raise ValueError("after the large output")
