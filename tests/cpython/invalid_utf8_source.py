print('ok')
s = 'café'
