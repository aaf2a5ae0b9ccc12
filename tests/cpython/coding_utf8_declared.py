# coding: utf-8
print('déclaré')
