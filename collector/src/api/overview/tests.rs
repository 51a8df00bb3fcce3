use std::sync::Arc;
use std::time::SystemTime;

use probesim_agent::event::{SourceMode, SpecVersion};
use probesim_agent::lb::health::LbState;

use super::*;
use crate::store::synthetic::{self, at_ms};
use crate::timeline::{BackendRow, NowSummary};

fn backend(
    id: i64,
    pod: u8,
    version: &str,
    what_if: bool,
    states: &[(LbState, u32)],
) -> BackendNow {
    let b = synthetic::backend(0, "web", "node-1", pod);
    let mut key = b.key.clone();
    key.version = SpecVersion {
        version: version.to_owned(),
        what_if,
    };
    let since: Vec<(LbState, SystemTime, SystemTime)> = states
        .iter()
        .map(|(s, _)| (*s, at_ms(1_000), at_ms(2_000)))
        .collect();
    BackendNow {
        backend: BackendRow {
            id,
            agent: synthetic::agent_id("node-1"),
            key: Arc::new(key),
            spec: b.spec.clone(),
            probers: 8,
            also_for: Vec::new(),
            first_seen: at_ms(0),
            removed_at: None,
        },
        now: NowSummary {
            probers: states.iter().map(|(_, n)| n).sum(),
            states: states.to_vec(),
            since,
            reasons: Vec::new(),
            last_change: Some(at_ms(2_000)),
        },
    }
}

#[test]
fn ui_overview_puts_what_if_versions_beside_the_current_one_with_their_verdicts() {
    let backends = vec![
        backend(1, 5, "1.23", false, &[(LbState::Healthy, 8)]),
        backend(2, 6, "1.23", false, &[(LbState::Healthy, 8)]),
        backend(3, 5, "1.24", true, &[(LbState::Unhealthy, 8)]),
        backend(4, 6, "1.24", true, &[(LbState::Unhealthy, 8)]),
    ];
    let o = overview(&backends);
    assert_eq!((o.backends, o.removed, o.groups.len()), (4, 0, 1));
    let g = &o.groups[0];
    assert_eq!(
        (g.service.as_str(), g.lb.as_str()),
        ("Service/default/web", "alb")
    );
    let columns: Vec<(&str, bool, &str, usize)> = g
        .versions
        .iter()
        .map(|c| (c.version.as_str(), c.what_if, c.verdict, c.members.len()))
        .collect();
    assert_eq!(
        columns,
        vec![("1.23", false, "ok", 2), ("1.24", true, "fails", 2)]
    );
    assert_eq!(g.versions[1].counts.get("unhealthy"), Some(&2));
}

fn from_source(mut b: BackendNow, source: SourceMode) -> BackendNow {
    let mut key = (*b.backend.key).clone();
    key.source = source;
    b.backend.key = Arc::new(key);
    b
}

#[test]
fn ui_overview_keeps_each_probe_source_of_a_rule_apart_instead_of_calling_the_rule_partial() {
    use SourceMode::{LbSource, Node, Observed};
    let backends = vec![
        from_source(backend(1, 5, "1.23", false, &[(LbState::Healthy, 8)]), Node),
        from_source(backend(2, 6, "1.23", false, &[(LbState::Healthy, 8)]), Node),
        from_source(
            backend(3, 5, "1.23", false, &[(LbState::Unhealthy, 8)]),
            LbSource,
        ),
        from_source(
            backend(4, 6, "1.23", false, &[(LbState::Unhealthy, 8)]),
            LbSource,
        ),
        from_source(
            backend(5, 5, "1.23", false, &[(LbState::Unhealthy, 2)]),
            Observed,
        ),
    ];
    let o = overview(&backends);
    let groups: Vec<(&str, &str, usize)> = o
        .groups
        .iter()
        .map(|g| {
            let c = &g.versions[0];
            (g.source, c.verdict, c.members.len())
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            ("node", "ok", 2),
            ("lb-source", "fails", 2),
            ("observed", "fails", 1)
        ]
    );
    assert!(o.groups.iter().all(|g| g.port == 80 && g.hop == "lb"));
}

#[test]
fn ui_overview_members_are_mixed_or_unknown_until_every_prober_agrees() {
    type Row<'a> = (&'a [(LbState, u32)], &'a str, &'a str);
    let table: [Row<'_>; 5] = [
        (&[(LbState::Healthy, 8)], "healthy", "in"),
        (&[(LbState::Draining, 8)], "draining", "out"),
        (
            &[(LbState::Healthy, 5), (LbState::Unhealthy, 3)],
            "mixed",
            "mixed",
        ),
        (&[(LbState::Healthy, 5)], "mixed", "mixed"),
        (&[], "unknown", "unknown"),
    ];
    for (states, state, rotation) in table {
        let o = overview(&[backend(1, 5, "1.33", false, states)]);
        let m = &o.groups[0].versions[0].members[0];
        assert_eq!((m.state, m.rotation), (state, rotation), "{states:?}");
    }
}

#[test]
fn ui_overview_verdicts_cover_every_mix_of_rotations() {
    let member = |rotation| Member {
        id: 1,
        node: String::new(),
        target: String::new(),
        pod: None,
        state: "x",
        rotation,
        probers: 8,
        states: Vec::new(),
        reasons: Vec::new(),
        since_ms: None,
    };
    let table: [(&[&'static str], &str); 5] = [
        (&[], "unknown"),
        (&["unknown"], "unknown"),
        (&["in", "in"], "ok"),
        (&["out", "unknown"], "fails"),
        (&["in", "out"], "partial"),
    ];
    for (rotations, expected) in table {
        let members: Vec<Member> = rotations.iter().map(|r| member(*r)).collect();
        assert_eq!(verdict(&members), expected, "{rotations:?}");
    }
}

fn also_for(mut b: BackendNow, versions: &[&str]) -> BackendNow {
    b.backend.also_for = versions.iter().map(|v| (*v).to_owned()).collect();
    b
}

#[test]
fn ui_overview_gives_a_what_if_version_sharing_the_current_probe_its_own_column_marked_shared() {
    let backends = vec![
        also_for(
            backend(1, 5, "1.23", false, &[(LbState::Healthy, 8)]),
            &["1.24"],
        ),
        also_for(
            backend(2, 6, "1.23", false, &[(LbState::Unhealthy, 8)]),
            &["1.24"],
        ),
        backend(3, 5, "1.25", true, &[(LbState::Unhealthy, 8)]),
        backend(4, 6, "1.25", true, &[(LbState::Unhealthy, 8)]),
    ];
    let o = overview(&backends);
    assert_eq!((o.backends, o.groups.len()), (4, 1));
    type Column<'a> = (&'a str, bool, Option<&'a str>, &'a str, Vec<i64>);
    let columns: Vec<Column<'_>> = o.groups[0]
        .versions
        .iter()
        .map(|c| {
            (
                c.version.as_str(),
                c.what_if,
                c.shared_with.as_deref(),
                c.verdict,
                c.members.iter().map(|m| m.id).collect(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        vec![
            ("1.23", false, None, "partial", vec![1, 2]),
            ("1.24", true, Some("1.23"), "partial", vec![1, 2]),
            ("1.25", true, None, "fails", vec![3, 4]),
        ]
    );
    assert_eq!(o.groups[0].versions[1].counts.get("unhealthy"), Some(&1));
}
