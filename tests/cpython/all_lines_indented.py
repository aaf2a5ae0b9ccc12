    # Every line is indented: python3 refuses the file.
    x = 1
    print(x)
