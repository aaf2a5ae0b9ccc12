def f():
    try:
        raise ValueError("first")
    finally:
        print("finally")


f()
