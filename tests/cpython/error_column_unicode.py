naïve_values = {"café": 1}
print(naïve_values["café"] + naïve_values["thé"])
