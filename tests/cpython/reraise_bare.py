def parse(text):
    try:
        return int(text)
    except ValueError:
        print("logging, then re-raising")
        raise


parse("nope")
