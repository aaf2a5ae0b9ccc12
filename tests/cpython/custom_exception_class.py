class AppError(Exception):
    """An error of this program."""


class NestedScope:
    class Inner(LookupError):
        pass


try:
    raise NestedScope.Inner("inner one")
except LookupError as e:
    print(type(e).__qualname__, e)
raise AppError("shown with its name only, as __main__ classes are")
