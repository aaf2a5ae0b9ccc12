# sys.exit with a string: the string alone on stderr, exit status 1.
import sys

print("working")
sys.exit("something went wrong: ünïcode too")
