import sys

print("written before closing")
sys.stdout.close()
