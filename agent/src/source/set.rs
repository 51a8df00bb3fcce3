//! The sources one agent runs, made once and shared by every target: the daemon (and `probe`)
//! picks each backend's [`ProbeSource`] here by [`SourceMode`].

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::caps;
use super::default_lb_sources;
use super::plan::LbSourceConfig;
use super::setup::LbSource;
use super::socket::SocketFactory;
use crate::error::{Error, Result};
use crate::event::SourceMode;
use crate::model::Cloud;
use crate::probe::ProbeSource;
use crate::probe::syn::{SynConfig, SynProber};

/// What to set up.
#[derive(Clone, Debug, Default)]
pub struct SourceSetConfig {
    /// Set up `lb-source` (and make SYN probes leave from it).
    pub lb_source: Option<LbSourceConfig>,
    /// Start a raw SYN prober.
    pub syn: Option<SynConfig>,
}

impl SourceSetConfig {
    /// What `modes` need set up on an agent of `cloud`: lb-source when named, or for SYN
    /// probes when `addresses` are given (they then leave from the LB's address), holding
    /// `addresses` or the cloud's default; the SYN prober when named. An error names the
    /// address setting.
    pub fn for_modes(
        modes: &BTreeSet<SourceMode>,
        cloud: Cloud,
        addresses: &[IpAddr],
    ) -> Result<SourceSetConfig> {
        let syn = modes.contains(&SourceMode::Syn);
        let lb_source = if modes.contains(&SourceMode::LbSource) || (syn && !addresses.is_empty()) {
            let addresses = if addresses.is_empty() {
                default_lb_sources(cloud)
            } else {
                addresses.to_vec()
            };
            let config = LbSourceConfig::with_addresses(addresses);
            config.validate()?;
            Some(config)
        } else {
            None
        };
        Ok(SourceSetConfig {
            lb_source,
            syn: syn.then(SynConfig::default),
        })
    }
}

/// The running sources. Dropping it removes `lb-source` and stops the SYN prober; probes still
/// holding a [`ProbeSource`] keep their sockets' namespace alive until they end.
#[derive(Debug, Default)]
pub struct SourceSet {
    // Dropped in this order: the prober (its sockets live in the namespace), then lb-source.
    syn: Option<ProbeSource>,
    lb: Option<ProbeSource>,
    lb_source: Option<LbSource>,
}

impl SourceSet {
    /// The node's sockets only: nothing to set up, no privilege needed.
    pub fn node_only() -> SourceSet {
        SourceSet::default()
    }

    /// Sets up what `config` asks for in the calling thread's namespace, which must be the one
    /// probes run in (blocking; a SYN prober needs a tokio runtime).
    pub fn start(config: &SourceSetConfig) -> Result<SourceSet> {
        let mut set = SourceSet::default();
        let mut factory: Option<Arc<SocketFactory>> = None;
        if let Some(lb) = &config.lb_source {
            let source = LbSource::create(lb.clone())?;
            let f = source.socket_factory()?;
            set.lb = Some(ProbeSource::LbSource(f.clone()));
            factory = Some(f);
            set.lb_source = Some(source);
        }
        if let Some(syn) = &config.syn {
            caps::require("syn", &caps::SYN)?;
            let prober = SynProber::new(syn.clone(), factory)?;
            set.syn = Some(ProbeSource::Syn(Arc::new(prober)));
        }
        Ok(set)
    }

    /// The source for probes in `mode`: `None` for the node's own sockets; an error naming the
    /// mode when it was not set up (or is [`SourceMode::Observed`], which sends nothing).
    pub fn for_mode(&self, mode: SourceMode) -> Result<Option<ProbeSource>> {
        let missing = |why: &str| Error::SourceConfig {
            field: "source".into(),
            value: mode.as_str().into(),
            message: why.into(),
        };
        match mode {
            SourceMode::Node => Ok(None),
            SourceMode::LbSource => self
                .lb
                .clone()
                .map(Some)
                .ok_or_else(|| missing("lb-source is not set up on this agent")),
            SourceMode::Syn => self
                .syn
                .clone()
                .map(Some)
                .ok_or_else(|| missing("the raw SYN prober is not running on this agent")),
            SourceMode::Observed => Err(missing(
                "observed results come from the observer, not from probes",
            )),
        }
    }

    /// The sources set up, by mode, as the daemon takes them (`DaemonConfig::sources`); the
    /// node's own sockets need none.
    pub fn probe_sources(&self) -> Vec<(SourceMode, ProbeSource)> {
        let lb = self.lb.clone().map(|s| (SourceMode::LbSource, s));
        let syn = self.syn.clone().map(|s| (SourceMode::Syn, s));
        lb.into_iter().chain(syn).collect()
    }

    pub fn lb_source(&self) -> Option<&LbSource> {
        self.lb_source.as_ref()
    }

    /// Removes `lb-source` now, reporting a failure (dropping does the same silently).
    pub fn remove(mut self) -> Result<()> {
        self.syn = None;
        self.lb = None;
        match self.lb_source.take() {
            Some(source) => source.remove(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_only_set_gives_node_sockets_and_names_what_is_missing() {
        let set = SourceSet::node_only();
        assert!(set.for_mode(SourceMode::Node).unwrap().is_none());
        for mode in [SourceMode::LbSource, SourceMode::Syn, SourceMode::Observed] {
            let err = set.for_mode(mode).unwrap_err().to_string();
            assert!(err.contains(mode.as_str()), "{err}");
        }
    }
}
