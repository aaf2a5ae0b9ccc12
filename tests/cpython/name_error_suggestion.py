temperature = 21
print(temperatur)
