# expect-difference: status, stderr: run decodes only UTF-8, Latin-1, Latin-9, cp1252 and ASCII itself; for any other declared encoding it stops with status 2 and asks for UTF-8
# coding: no-such-encoding
print('x')
