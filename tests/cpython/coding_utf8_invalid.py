# expect-difference: traceback, exception, stderr: python3 points at the first byte that is not UTF-8 in a file declared UTF-8; run says only `SyntaxError: encoding problem: utf-8`
# coding: utf-8
print('ok')
print('café')
