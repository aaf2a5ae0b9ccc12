# expect-difference: stdout: output travels as text (MCP carries text), so bytes that are not UTF-8 arrive as U+FFFD
import sys

sys.stdout.flush()
sys.stdout.buffer.write(b"valid \xc3\xa9, invalid \xff\xfe end\n")
sys.stdout.buffer.flush()
