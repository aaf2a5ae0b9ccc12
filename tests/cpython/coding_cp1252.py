# coding=cp1252
print('“quoted” € é')
