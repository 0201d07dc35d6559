"""``python -m conversion.cli``: the onnxgate command under the module name every version answers to.

The command lives in conversion/app/main.py. `gate --against` runs the merge base's own onnxgate
(its tree, or an older install under --base-python) by this name, so it stays runnable.
"""

import sys

from conversion.app.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
