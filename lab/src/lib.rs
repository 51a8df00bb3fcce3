//! probesim-lab: a simulated cluster in network namespaces and the scenario runner.
//!
//! Empty until the lab is built; see design.md, "The lab".
