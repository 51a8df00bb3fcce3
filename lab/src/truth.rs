//! Ground truth: what really happened in the lab and when (wall clock, milliseconds), against
//! which the product's measurements are checked: when each application started and stopped
//! answering, when each pod became Ready, Terminating, and was gone.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::Serialize;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Happening {
    PodScheduled,
    /// The application listens on its ports.
    Answering,
    PodReady,
    PodNotReady,
    PodTerminating,
    PreStopDone,
    /// SIGTERM sent to the application.
    Sigterm,
    /// The application closed its listening sockets: new connections are refused.
    StoppedAccepting,
    /// The application is gone (exited or killed at the end of the grace period).
    Stopped,
    PodDeleted,
    /// A scenario action was played.
    Action,
    /// The application's behaviour changed (a scenario action).
    BehaviorChanged,
}

impl Happening {
    pub fn as_str(self) -> &'static str {
        match self {
            Happening::PodScheduled => "pod-scheduled",
            Happening::Answering => "answering",
            Happening::PodReady => "pod-ready",
            Happening::PodNotReady => "pod-not-ready",
            Happening::PodTerminating => "pod-terminating",
            Happening::PreStopDone => "prestop-done",
            Happening::Sigterm => "sigterm",
            Happening::StoppedAccepting => "stopped-accepting",
            Happening::Stopped => "stopped",
            Happening::PodDeleted => "pod-deleted",
            Happening::Action => "action",
            Happening::BehaviorChanged => "behavior-changed",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Fact {
    #[serde(serialize_with = "as_rfc3339")]
    pub at: SystemTime,
    pub what: Happening,
    /// `Pod/ns/name`, `Node/name`, ...
    pub object: String,
    pub detail: String,
}

fn as_rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&probesim_agent::clock::rfc3339(*t))
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}  {:<18} {}",
            probesim_agent::clock::time_of_day(self.at),
            self.what.as_str(),
            self.object
        )?;
        if !self.detail.is_empty() {
            write!(f, "  ({})", self.detail)?;
        }
        Ok(())
    }
}

/// The record, shared by everything in the lab that changes something.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    facts: Arc<Mutex<Vec<Fact>>>,
}

impl Truth {
    pub fn record(&self, what: Happening, object: impl Into<String>, detail: impl Into<String>) {
        let fact = Fact {
            at: SystemTime::now(),
            what,
            object: object.into(),
            detail: detail.into(),
        };
        tracing::debug!(%fact, "ground truth");
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fact);
    }

    /// Every fact so far, in the order they happened.
    pub fn facts(&self) -> Vec<Fact> {
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
