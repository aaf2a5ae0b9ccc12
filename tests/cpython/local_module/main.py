# expect-difference: stdout, traceback, exception: only the file's own code is sent to the sandbox, so modules beside it cannot be imported there
import helper

print(helper.scale(2))
helper.explode()
