print('a file with a UTF-8 byte-order mark')
x = 1 / 0
