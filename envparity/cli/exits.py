"""Exit codes shared by every command."""

EXIT_OK = 0  # success; nothing fails
EXIT_FAIL = 1  # a parity check or a fingerprint diff fails
EXIT_BAD_INPUT = 2  # bad input, or the collector cannot be reached
EXIT_SPOOLED = 3  # the agent spooled a snapshot it could not deliver
EXIT_DEAD_LETTERED = 4  # the collector refused a snapshot; it is in the dead-letter folder
