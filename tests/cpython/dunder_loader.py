# expect-difference: stdout: the file is not imported from disk in the sandbox (it may not be there), so __loader__ is not a SourceFileLoader
print(type(__loader__).__name__)
