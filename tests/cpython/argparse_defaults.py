import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=2)
args = parser.parse_args()
print(parser.prog, args.count)
