s = 'vt\x0b ff\x0c fs\x1c gs\x1d rs\x1e nel\x85 ls\u2028 ps\u2029'
# comment: vt  ff  fs  gs  rs  nel  ls   ps   end
t = 'literal:          end'
print(len(s), len(t))
def g():
    return {}['after the separators']
g()
