import logging

logging.warning("a warning from the root logger")
log = logging.getLogger("app")
log.error("an error with %s", "arguments")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("with a traceback")
