//! Which probe outcomes each LB counts as success or failure.
