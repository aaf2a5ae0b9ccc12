π = 3.14159
größe = 2
日本 = "こんにちは"


def grüß(name):
    return f"Grüß dich, {name} ✓ {日本}"


print(grüß("Zoë"), π * größe)
print("emoji: 🐍🚀", "combining: é", "rtl: שלום")
ergebnis = {"schlüssel": 1}
ergebnis["fehlt"] + π
