print("no newline at the end")
raise ValueError("last line")