def main():
    print("name is", __name__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
