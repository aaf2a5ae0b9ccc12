def main():
    print("main runs")
    raise SystemExit(7)


if __name__ == "__main__":
    main()
