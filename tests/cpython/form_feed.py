import sys

def f():
    # a comment with a form feed  inside
    raise ValueError('after a form feed')

f()
