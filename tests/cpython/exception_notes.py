try:
    int("x")
except ValueError as e:
    if hasattr(e, "add_note"):
        e.add_note("while parsing the configuration")
        e.add_note("second note")
    raise
