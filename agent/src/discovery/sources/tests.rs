use super::*;

use SourceMode::{LbSource, Node, Syn};

fn port(
    lb: LbKind,
    number: i32,
    name: Option<&'static str>,
    protocol: ProbeProtocol,
) -> RulePort<'static> {
    RulePort {
        lb,
        number,
        name,
        protocol,
    }
}

fn tcp(lb: LbKind, number: i32) -> RulePort<'static> {
    port(lb, number, None, ProbeProtocol::Tcp)
}

#[test]
fn the_most_specific_source_entry_wins_and_uncovered_lbs_use_the_node() {
    let policy = SourcePolicy::parse(&["azure=lb-source", "alb=node+lb-source", "syn"]).unwrap();
    let cases = [
        (LbKind::AzureLb, vec![LbSource]),
        (LbKind::Alb, vec![Node, LbSource]),
        (LbKind::Nlb, vec![Syn]),
        (LbKind::Clb, vec![Syn]),
    ];
    for (lb, want) in cases {
        assert_eq!(policy.modes_for(lb), want.as_slice(), "{lb:?}");
    }
    let scoped_only = SourcePolicy::parse(&["aws=lb-source"]).unwrap();
    assert_eq!(scoped_only.modes_for(LbKind::AzureLb), &[Node]);
    assert_eq!(scoped_only.modes_for(LbKind::Nlb), &[LbSource]);
    assert_eq!(
        SourcePolicy::parse::<&str>(&[]).unwrap(),
        SourcePolicy::default()
    );
}

#[test]
fn what_an_agent_sets_up_is_every_source_its_clouds_lbs_may_use() {
    let policy =
        SourcePolicy::parse(&["azure=lb-source", "alb=node+syn", "nlb=lb-source"]).unwrap();
    assert_eq!(policy.modes_in(Cloud::Azure), BTreeSet::from([LbSource]));
    assert_eq!(
        policy.modes_in(Cloud::Aws),
        BTreeSet::from([Node, LbSource, Syn])
    );
}

#[test]
fn bad_source_entries_are_refused_naming_the_entry_and_the_problem() {
    let cases: [(&[&str], &str); 5] = [
        (&["gcp=node"], "unknown scope \"gcp\""),
        (&["lb-source+observed"], "\"observed\""),
        (&["alb="], "alb="),
        (&["node", "lb-source"], "given twice"),
        (&["aws=node", "aws=syn"], "given twice"),
    ];
    for (entries, want) in cases {
        let err = SourcePolicy::parse(entries).unwrap_err().to_string();
        assert!(
            err.contains("--source") && err.contains(want),
            "{entries:?}: {err}"
        );
    }
}

#[test]
fn an_annotation_chooses_per_port_by_number_or_name_then_for_the_whole_object() {
    let annotation = SourceAnnotation::parse("node, 443=lb-source+node, metrics=syn").unwrap();
    let choice = SourceChoice {
        policy: SourcePolicy::parse(&["lb-source"]).unwrap(),
        available: vec![Node, LbSource, Syn],
    };
    let mut warnings = Vec::new();
    let cases = [
        (tcp(LbKind::AzureLb, 443), vec![LbSource, Node]),
        (
            port(LbKind::AzureLb, 9100, Some("metrics"), ProbeProtocol::Tcp),
            vec![Syn],
        ),
        (tcp(LbKind::AzureLb, 80), vec![Node]),
    ];
    for (rule, want) in cases {
        assert_eq!(
            choice.modes("Service a/b", Some(&annotation), rule, &mut warnings),
            want
        );
    }
    assert_eq!(
        choice.modes("Service a/b", None, tcp(LbKind::AzureLb, 80), &mut warnings),
        vec![LbSource]
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn bad_annotations_are_refused_naming_the_annotation_and_the_entry() {
    let cases = [
        ("", "empty"),
        ("lb-source, node", "given twice"),
        ("80=node,80=syn", "given twice"),
        ("=node", "PORT=MODE"),
        ("80=tcp", "\"tcp\""),
    ];
    for (value, want) in cases {
        let err = SourceAnnotation::parse(value).unwrap_err().to_string();
        assert!(
            err.contains(SOURCE_ANNOTATION) && err.contains(want),
            "{value:?}: {err}"
        );
    }
}

#[test]
fn syn_for_a_probe_that_is_not_tcp_goes_from_the_lb_address_when_set_up_else_the_node() {
    let http = port(LbKind::Alb, 80, None, ProbeProtocol::Http);
    let with_lb = SourceChoice {
        policy: SourcePolicy::parse(&["syn"]).unwrap(),
        available: vec![Node, LbSource, Syn],
    };
    let node_only = SourceChoice {
        policy: SourcePolicy::parse(&["syn"]).unwrap(),
        available: vec![Node, Syn],
    };
    let mut warnings = Vec::new();
    assert_eq!(
        with_lb.modes("Ingress a/b", None, http, &mut warnings),
        vec![LbSource]
    );
    assert_eq!(
        node_only.modes("Ingress a/b", None, http, &mut warnings),
        vec![Node]
    );
    assert_eq!(
        node_only.modes("Ingress a/b", None, tcp(LbKind::Nlb, 80), &mut warnings),
        vec![Syn]
    );
    assert!(
        warnings.is_empty(),
        "the agent's own policy falls back quietly: {warnings:?}"
    );
    let asked = SourceAnnotation::parse("syn").unwrap();
    assert_eq!(
        node_only.modes("Ingress a/b", Some(&asked), http, &mut warnings),
        vec![Node]
    );
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("Ingress a/b") && warnings[0].contains("TCP only"),
        "{warnings:?}"
    );
}

#[test]
fn an_annotation_naming_a_source_not_set_up_is_warned_about_and_the_policy_used() {
    let choice = SourceChoice::uniform(Node);
    let mut warnings = Vec::new();
    let both = SourceAnnotation::parse("node+lb-source").unwrap();
    assert_eq!(
        choice.modes(
            "Service a/b",
            Some(&both),
            tcp(LbKind::AzureLb, 80),
            &mut warnings
        ),
        vec![Node]
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("--enable-source lb-source"),
        "{warnings:?}"
    );
    warnings.clear();
    let only = SourceAnnotation::parse("syn").unwrap();
    assert_eq!(
        choice.modes(
            "Service a/b",
            Some(&only),
            tcp(LbKind::AzureLb, 80),
            &mut warnings
        ),
        vec![Node]
    );
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[1].contains("the agent's --source"), "{warnings:?}");
}
