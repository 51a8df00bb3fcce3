//! Scenarios: a cluster, its objects and applications, timed actions and expectations, in one
//! YAML file (`lab/scenarios/sN-*.yaml`), and the runner that plays them.

pub mod duration;
pub mod file;

pub use file::Scenario;
pub mod actions;
pub mod admit;
pub mod checks;
pub mod embedded;
pub mod probesim;
pub mod run;
