# expect-difference: traceback: the module's frame is not the bottom of the stack in the sandbox: a stack dump also shows the sandbox's frames and the tool's own below it
import traceback


def where():
    traceback.print_stack()


where()
