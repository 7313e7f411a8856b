"""Exit codes shared by every command, documented in docs/cli.md.

1 means only "a check fails": a CI gate must never read a crash or bad input as drift.
"""

EXIT_OK = 0  # success; nothing fails
EXIT_FAIL = 1  # a parity check or a fingerprint diff fails
EXIT_BAD_INPUT = 2  # bad input (arguments, files, data), a missing extra, or the collector cannot be reached
EXIT_SPOOLED = 3  # the agent spooled a snapshot it could not deliver
EXIT_DEAD_LETTERED = 4  # the collector refused a snapshot; it is in the dead-letter folder
EXIT_INTERNAL = 5  # an unexpected internal error (a bug): one line, the traceback with --debug
EXIT_INTERRUPTED = 130  # stopped with Ctrl-C
