# argparse reads sys.argv and exits with status 2 and a usage message.
import argparse

parser = argparse.ArgumentParser(description="demo")
parser.add_argument("name")
args = parser.parse_args()
print("never", args)
