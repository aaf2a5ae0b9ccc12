# expect-difference: stdout: python3 writes a lone surrogate as the byte it escapes (surrogateescape), which is not UTF-8; the sandbox's stdout is text, so the local sandbox shows it escaped
print("lone surrogate: \udc80 end")
