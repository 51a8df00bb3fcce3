//! The current LB view of each backend: the latest state of each of its virtual probers, summed
//! up as the agent's `TargetSummary` does (probers per state, most common first).

use std::collections::HashMap;
use std::time::SystemTime;

use probesim_agent::lb::health::LbState;
use probesim_agent::lb::verdict::Reason;

use super::{BackendRowId, TransitionRow};

/// Virtual probers per backend the view keeps track of. K is a few dozen in practice; a
/// transition naming a prober beyond this is stored but left out of the current view, so that a
/// bad prober number cannot make the collector allocate without bound.
pub const MAX_PROBERS_IN_VIEW: u32 = 4096;

/// One virtual prober's latest state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProberNow {
    pub state: LbState,
    pub since: SystemTime,
    pub reason: Option<Reason>,
}

/// The latest state of every prober of every backend.
#[derive(Clone, Debug, Default)]
pub struct LbNow {
    probers: HashMap<BackendRowId, Vec<Option<ProberNow>>>,
}

/// How the virtual probers of one backend see it now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NowSummary {
    /// Probers with a known state (they made at least one transition).
    pub probers: u32,
    /// Probers per state, most common first (ties in [`LbState::ALL`] order).
    pub states: Vec<(LbState, u32)>,
    /// The earliest and latest moment a prober entered its current state, per state.
    pub since: Vec<(LbState, SystemTime, SystemTime)>,
    /// Reason codes of the probers' current states, most common first.
    pub reasons: Vec<(&'static str, u32)>,
    /// The latest transition of any prober.
    pub last_change: Option<SystemTime>,
}

impl NowSummary {
    /// The one state all probers agree on, if they do.
    pub fn unanimous(&self) -> Option<LbState> {
        match self.states.as_slice() {
            [(state, n)] if *n == self.probers => Some(*state),
            _ => None,
        }
    }
}

impl LbNow {
    /// Takes in transitions; an older one than a prober's current state is history, not news.
    pub fn apply<'a>(&mut self, transitions: impl IntoIterator<Item = &'a TransitionRow>) {
        for row in transitions {
            let change = &row.change;
            if change.prober >= MAX_PROBERS_IN_VIEW {
                continue;
            }
            let probers = self.probers.entry(row.backend).or_default();
            let slot = change.prober as usize;
            if probers.len() <= slot {
                probers.resize(slot + 1, None);
            }
            let current = &mut probers[slot];
            if current.is_none_or(|c| c.since <= change.at) {
                *current = Some(ProberNow {
                    state: change.to,
                    since: change.at,
                    reason: change.reason,
                });
            }
        }
    }

    /// A backend declared again with `probers` virtual probers: probers beyond them are gone.
    pub fn resize(&mut self, backend: BackendRowId, probers: u32) {
        if let Some(states) = self.probers.get_mut(&backend) {
            states.truncate(probers as usize);
        }
    }

    pub fn forget(&mut self, backend: BackendRowId) {
        self.probers.remove(&backend);
    }

    pub fn probers(&self, backend: BackendRowId) -> &[Option<ProberNow>] {
        self.probers.get(&backend).map_or(&[], Vec::as_slice)
    }

    pub fn summary(&self, backend: BackendRowId) -> NowSummary {
        let mut summary = NowSummary::default();
        let mut counts: HashMap<LbState, (u32, SystemTime, SystemTime)> = HashMap::new();
        let mut reasons: HashMap<&'static str, u32> = HashMap::new();
        for prober in self.probers(backend).iter().flatten() {
            summary.probers += 1;
            let entry = counts
                .entry(prober.state)
                .or_insert((0, prober.since, prober.since));
            entry.0 += 1;
            entry.1 = entry.1.min(prober.since);
            entry.2 = entry.2.max(prober.since);
            if let Some(reason) = prober.reason {
                *reasons.entry(reason.code()).or_default() += 1;
            }
            summary.last_change = Some(
                summary
                    .last_change
                    .map_or(prober.since, |t| t.max(prober.since)),
            );
        }
        for state in LbState::ALL {
            if let Some((n, earliest, latest)) = counts.get(&state) {
                summary.states.push((state, *n));
                summary.since.push((state, *earliest, *latest));
            }
        }
        summary.states.sort_by_key(|s| std::cmp::Reverse(s.1));
        summary.reasons = reasons.into_iter().collect();
        summary
            .reasons
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        summary
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use probesim_agent::event::StateChange;

    use super::*;

    fn row(prober: u32, to: LbState, at_s: u64, reason: Option<Reason>) -> TransitionRow {
        TransitionRow {
            backend: 1,
            change: StateChange {
                backend: 9,
                prober,
                from: LbState::Initial,
                to,
                reason,
                at: UNIX_EPOCH + Duration::from_secs(at_s),
            },
        }
    }

    #[test]
    fn the_summary_counts_each_probers_latest_state_most_common_first() {
        let mut now = LbNow::default();
        now.apply(&[
            row(0, LbState::Healthy, 10, None),
            row(1, LbState::Healthy, 11, None),
            row(2, LbState::Unhealthy, 12, Some(Reason::TargetTimeout)),
            // Older than prober 0's current state: history, not news.
            row(0, LbState::Unhealthy, 5, Some(Reason::TargetTimeout)),
        ]);
        let s = now.summary(1);
        assert_eq!(s.probers, 3);
        assert_eq!(
            s.states,
            vec![(LbState::Healthy, 2), (LbState::Unhealthy, 1)]
        );
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(s.since[0], (LbState::Healthy, at(10), at(11)));
        assert_eq!(s.reasons, vec![("Target.Timeout", 1)]);
        assert_eq!(s.last_change, Some(at(12)));
        assert_eq!(s.unanimous(), None);
    }

    #[test]
    fn fewer_probers_after_a_redeclaration_drop_the_others_and_absurd_prober_numbers_are_ignored() {
        let mut now = LbNow::default();
        now.apply(&[
            row(0, LbState::Healthy, 1, None),
            row(5, LbState::Unhealthy, 1, None),
            row(MAX_PROBERS_IN_VIEW, LbState::Unhealthy, 1, None),
        ]);
        assert_eq!(now.probers(1).len(), 6);
        now.resize(1, 2);
        let s = now.summary(1);
        assert_eq!(s.unanimous(), Some(LbState::Healthy));
        assert_eq!(now.summary(2), NowSummary::default());
    }
}
