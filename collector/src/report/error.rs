//! Bad input to analysis and reports, named with its field and value.

/// What the `report` command or the analysis configuration got wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("--format {0:?}: use text, markdown or json")]
    Format(String),
    #[error("--service {0:?}: use NAMESPACE/NAME, e.g. default/web")]
    Service(String),
    #[error("analysis {field} {value:?}: {why}")]
    Config {
        field: &'static str,
        value: String,
        why: &'static str,
    },
}
