# -*- coding: latin-1 -*-
s = 'été £'
print(s, len(s))
raise ValueError(s)
