//! Analysis checked against hand-computed timelines, one file per scenario of
//! spec/scenarios.md, and properties over generated ones.

mod drain;
mod hops;
mod machines;
mod nodes;
mod properties;
mod sources;
mod versions;

use super::{AnalysisConfig, analyze};
use crate::model::History;
use crate::report::{Report, ServiceReport};

fn report(h: &History) -> Report {
    analyze(h, &AnalysisConfig::default())
}

fn only_service(r: &Report) -> &ServiceReport {
    assert_eq!(r.services.len(), 1, "{:#?}", r.services);
    &r.services[0]
}

#[test]
fn service_filter_parses_namespace_and_name_and_names_bad_values() {
    let f: super::ServiceFilter = "default/web".parse().unwrap();
    assert_eq!((f.namespace.as_str(), f.name.as_str()), ("default", "web"));
    for bad in ["web", "/web", "default/", "a/b/c", ""] {
        let err = bad.parse::<super::ServiceFilter>().unwrap_err();
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
fn config_longer_than_an_hour_is_refused_with_its_field() {
    let config = AnalysisConfig {
        alb_propagation_lag: std::time::Duration::from_secs(4000),
        ..AnalysisConfig::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("alb_propagation_lag"), "{err}");
    assert!(AnalysisConfig::default().validate().is_ok());
}
