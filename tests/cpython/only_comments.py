# This file has only comments.
# print("nothing runs")

   # an indented comment
