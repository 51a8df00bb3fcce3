//! Which sources an LB backend's probes come from (design.md, "Source emulation"). Pure: the
//! daemon sets the sources up; this only picks among them.
//!
//! Three levels, the most specific wins:
//! 1. the `probesim.io/source` annotation of the Service or Ingress, for one of its ports
//!    (`443=lb-source`) or for all of them (`lb-source`);
//! 2. the agent's `--source` entry for the LB kind (`alb=lb-source`);
//! 3. its entry for the cloud (`aws=node`), then the one without a scope (`node`).
//!
//! Each level names one source or several joined by `+` (`node+lb-source`): the backend is
//! then probed from each, as separate backends (the source is part of [`BackendKey`]), which
//! shows at a glance whether a failure depends on where the probe comes from (S2).
//!
//! [`BackendKey`]: crate::event::BackendKey

use std::collections::BTreeSet;
use std::fmt;

use crate::error::{Error, Result};
use crate::event::SourceMode;
use crate::model::{Cloud, LbKind, ProbeProtocol};
use crate::source::parse_mode;

/// The annotation of a Service or Ingress that chooses where its LB probes come from.
pub const SOURCE_ANNOTATION: &str = "probesim.io/source";

/// The flag the agent's policy comes from, named in its errors.
const SOURCE_FLAG: &str = "--source";

/// What a `--source` entry applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Cloud(Cloud),
    Lb(LbKind),
}

impl Scope {
    fn parse(text: &str) -> Option<Scope> {
        match text {
            "azure" => Some(Scope::Cloud(Cloud::Azure)),
            "aws" => Some(Scope::Cloud(Cloud::Aws)),
            "azure-lb" => Some(Scope::Lb(LbKind::AzureLb)),
            "alb" => Some(Scope::Lb(LbKind::Alb)),
            "nlb" => Some(Scope::Lb(LbKind::Nlb)),
            "clb" => Some(Scope::Lb(LbKind::Clb)),
            _ => None,
        }
    }

    fn covers(self, lb: LbKind) -> bool {
        match self {
            Scope::All => true,
            Scope::Cloud(cloud) => lb.cloud() == cloud,
            Scope::Lb(kind) => kind == lb,
        }
    }

    /// Higher is more specific.
    fn rank(self) -> u8 {
        match self {
            Scope::All => 0,
            Scope::Cloud(_) => 1,
            Scope::Lb(_) => 2,
        }
    }
}

/// The agent's `--source`: entries `[SCOPE=]MODE[+MODE...]`, scope a cloud (`azure`, `aws`) or
/// an LB kind (`azure-lb`, `alb`, `nlb`, `clb`). LBs no entry covers are probed from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePolicy {
    entries: Vec<(Scope, Vec<SourceMode>)>,
}

impl Default for SourcePolicy {
    fn default() -> Self {
        SourcePolicy::uniform(SourceMode::Node)
    }
}

impl SourcePolicy {
    /// Every LB from `mode`.
    pub fn uniform(mode: SourceMode) -> SourcePolicy {
        SourcePolicy {
            entries: vec![(Scope::All, vec![mode])],
        }
    }

    /// Parses `--source`'s entries (comma-separated on the command line). An error names the
    /// entry and what is wrong with it; a scope given twice is an error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<SourcePolicy> {
        let mut parsed: Vec<(Scope, Vec<SourceMode>)> = Vec::new();
        for entry in entries.iter().map(|e| e.as_ref().trim()) {
            if entry.is_empty() {
                continue;
            }
            let (scope, modes) = match entry.split_once('=') {
                Some((scope, modes)) => {
                    let scope = Scope::parse(scope.trim()).ok_or_else(|| Error::SourceConfig {
                        field: SOURCE_FLAG.into(),
                        value: entry.into(),
                        message: format!(
                            "unknown scope {:?}: expected a cloud (azure, aws) or an LB kind \
                             (azure-lb, alb, nlb, clb)",
                            scope.trim()
                        ),
                    })?;
                    (scope, modes)
                }
                None => (Scope::All, entry),
            };
            let modes = parse_modes(SOURCE_FLAG, entry, modes)?;
            if parsed.iter().any(|(s, _)| *s == scope) {
                return Err(Error::SourceConfig {
                    field: SOURCE_FLAG.into(),
                    value: entry.into(),
                    message: "this scope is given twice".into(),
                });
            }
            parsed.push((scope, modes));
        }
        if parsed.is_empty() {
            return Ok(SourcePolicy::default());
        }
        Ok(SourcePolicy { entries: parsed })
    }

    /// The sources of `lb`'s backends: its most specific entry, else the node.
    pub fn modes_for(&self, lb: LbKind) -> &[SourceMode] {
        self.entries
            .iter()
            .filter(|(scope, _)| scope.covers(lb))
            .max_by_key(|(scope, _)| scope.rank())
            .map_or(&[SourceMode::Node], |(_, modes)| modes.as_slice())
    }

    /// Every source an LB of `cloud` may be probed from under this policy: what the agent on a
    /// node of that cloud sets up.
    pub fn modes_in(&self, cloud: Cloud) -> BTreeSet<SourceMode> {
        let kinds = [LbKind::AzureLb, LbKind::Alb, LbKind::Nlb, LbKind::Clb];
        kinds
            .into_iter()
            .filter(|lb| lb.cloud() == cloud)
            .flat_map(|lb| self.modes_for(lb).iter().copied())
            .collect()
    }
}

/// `node+lb-source` → the modes, in order, each once.
fn parse_modes(field: &str, entry: &str, text: &str) -> Result<Vec<SourceMode>> {
    let mut modes = Vec::new();
    for part in text.split('+') {
        let mode = parse_mode(field, part).map_err(|e| match e {
            Error::SourceConfig { message, value, .. } => Error::SourceConfig {
                field: field.into(),
                value: entry.into(),
                message: format!("{value:?}: {message}"),
            },
            other => other,
        })?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    Ok(modes)
}

/// Which Service port an annotation entry is for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PortSelector {
    Number(i32),
    Name(String),
}

/// A parsed `probesim.io/source` annotation: entries `[PORT=]MODE[+MODE...]`, `PORT` a Service
/// port's number or name (for an Ingress: its backends' Service ports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceAnnotation {
    all: Option<Vec<SourceMode>>,
    ports: Vec<(PortSelector, Vec<SourceMode>)>,
}

impl SourceAnnotation {
    /// Parses the annotation's value; an error names the annotation, the entry and the problem.
    pub fn parse(value: &str) -> Result<SourceAnnotation> {
        let mut parsed = SourceAnnotation {
            all: None,
            ports: Vec::new(),
        };
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let twice = || Error::SourceConfig {
                field: SOURCE_ANNOTATION.into(),
                value: entry.into(),
                message: "this port is given twice".into(),
            };
            match entry.split_once('=') {
                None => {
                    if parsed.all.is_some() {
                        return Err(twice());
                    }
                    parsed.all = Some(parse_modes(SOURCE_ANNOTATION, entry, entry)?);
                }
                Some((port, modes)) => {
                    let port = port.trim();
                    let selector = match port.parse::<i32>() {
                        Ok(n) => PortSelector::Number(n),
                        Err(_) if !port.is_empty() => PortSelector::Name(port.to_owned()),
                        Err(_) => {
                            return Err(Error::SourceConfig {
                                field: SOURCE_ANNOTATION.into(),
                                value: entry.into(),
                                message: "expected PORT=MODE with a port number or name".into(),
                            });
                        }
                    };
                    if parsed.ports.iter().any(|(s, _)| *s == selector) {
                        return Err(twice());
                    }
                    let modes = parse_modes(SOURCE_ANNOTATION, entry, modes)?;
                    parsed.ports.push((selector, modes));
                }
            }
        }
        if parsed.all.is_none() && parsed.ports.is_empty() {
            return Err(Error::SourceConfig {
                field: SOURCE_ANNOTATION.into(),
                value: value.into(),
                message: "empty: name a source (node, lb-source, syn) or leave the annotation out"
                    .into(),
            });
        }
        Ok(parsed)
    }

    /// The sources the annotation gives a rule's Service port (`number`, `name`), if any.
    fn modes_for(&self, number: i32, name: Option<&str>) -> Option<&[SourceMode]> {
        self.ports
            .iter()
            .find(|(selector, _)| match selector {
                PortSelector::Number(n) => *n == number,
                PortSelector::Name(n) => Some(n.as_str()) == name,
            })
            .map(|(_, modes)| modes.as_slice())
            .or(self.all.as_deref())
    }
}

/// What the agent chooses from: its policy, and the sources it set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceChoice {
    pub policy: SourcePolicy,
    /// The sources set up on this agent (the node's always is).
    pub available: Vec<SourceMode>,
}

impl Default for SourceChoice {
    fn default() -> Self {
        SourceChoice::uniform(SourceMode::Node)
    }
}

/// One LB rule's port, as the choice needs it.
#[derive(Clone, Copy, Debug)]
pub struct RulePort<'a> {
    pub lb: LbKind,
    pub number: i32,
    pub name: Option<&'a str>,
    pub protocol: ProbeProtocol,
}

impl SourceChoice {
    /// Every LB from `mode`, which is set up.
    pub fn uniform(mode: SourceMode) -> SourceChoice {
        let mut available = vec![SourceMode::Node];
        if mode != SourceMode::Node {
            available.push(mode);
        }
        SourceChoice {
            policy: SourcePolicy::uniform(mode),
            available,
        }
    }

    /// Where raw SYN probes' non-TCP siblings go (SYN probes are TCP only): from the LB's
    /// address when it is set up (the SYN prober then sends from there too), else the node.
    fn instead_of_syn(&self) -> SourceMode {
        if self.available.contains(&SourceMode::LbSource) {
            SourceMode::LbSource
        } else {
            SourceMode::Node
        }
    }

    /// The sources of one rule's LB backends. `annotation` is the object's annotation, parsed
    /// (`object` names it in warnings); what it asks for that cannot be done here is replaced
    /// by the agent's policy, with a warning that names the object, the annotation and why.
    pub fn modes(
        &self,
        object: &(impl fmt::Display + ?Sized),
        annotation: Option<&SourceAnnotation>,
        port: RulePort<'_>,
        warnings: &mut Vec<String>,
    ) -> Vec<SourceMode> {
        let policy = self.policy.modes_for(port.lb);
        let chosen = annotation.and_then(|a| a.modes_for(port.number, port.name));
        let mut modes = Vec::new();
        for &mode in chosen.unwrap_or(policy) {
            let mode = if mode == SourceMode::Syn && port.protocol != ProbeProtocol::Tcp {
                let instead = self.instead_of_syn();
                if chosen.is_some() {
                    warnings.push(format!(
                        "{object}: annotation {SOURCE_ANNOTATION} asks port {} for syn, which \
                         probes TCP only; its {} probe goes from {} instead",
                        port.number,
                        port.protocol,
                        instead.as_str()
                    ));
                }
                instead
            } else {
                mode
            };
            if !self.available.contains(&mode) {
                warnings.push(match chosen {
                    Some(_) => format!(
                        "{object}: annotation {SOURCE_ANNOTATION} asks port {} for {}, which \
                         this agent has not set up (add it with --enable-source {})",
                        port.number,
                        mode.as_str(),
                        mode.as_str(),
                    ),
                    None => format!(
                        "{object}: port {} should be probed from {}, which this agent has not \
                         set up",
                        port.number,
                        mode.as_str()
                    ),
                });
                continue;
            }
            if !modes.contains(&mode) {
                modes.push(mode);
            }
        }
        match (modes.is_empty(), chosen) {
            (false, _) => modes,
            // Only what the annotation named is missing: the agent's policy instead.
            (true, Some(_)) => {
                warnings.push(format!(
                    "{object}: port {} is probed from {} (the agent's --source) instead",
                    port.number,
                    words(policy)
                ));
                self.modes(object, None, port, warnings)
            }
            (true, None) => vec![SourceMode::Node],
        }
    }
}

fn words(modes: &[SourceMode]) -> String {
    let names: Vec<&str> = modes.iter().map(|m| m.as_str()).collect();
    names.join("+")
}

#[cfg(test)]
mod tests;
