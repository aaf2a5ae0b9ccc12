print("before input")
name = input("name? ")
print("never", name)
