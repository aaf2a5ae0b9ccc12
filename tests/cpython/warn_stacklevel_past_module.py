# expect-difference: stderr: a stacklevel that points below the module's frame finds the tool's own frame in the sandbox, where python3 finds no frame (and says sys:1)
import warnings

warnings.warn("points above the module", UserWarning, stacklevel=2)
