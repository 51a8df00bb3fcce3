//! Views of derived probes for the `explain` command.
