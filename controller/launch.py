"""Starts a cold trial so that it dies with its controller: asks Linux to SIGKILL the
process when the controller goes away (however it goes: a crash, SIGKILL), then replaces
itself with the trial's command. Standard library only; a failure to exec exits 127, as
a shell does.

    python -m controller.launch COMMAND [ARG...]
"""

from __future__ import annotations

import os
import sys

from controller.zygote import die_with_parent


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m controller.launch COMMAND [ARG...]", file=sys.stderr)
        return 2
    die_with_parent()
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        print(f"cannot start {argv[0]!r}: {err}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
