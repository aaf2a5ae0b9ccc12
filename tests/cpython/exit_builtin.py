# The site module's exit(), not sys.exit.
print("about to exit")
exit(4)
