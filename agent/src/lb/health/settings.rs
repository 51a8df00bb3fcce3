//! The emulation's knobs where the clouds' behaviour is undocumented or disputed, each with a
//! named default and the reason for it.

use std::time::Duration;

/// How many consecutive passed checks a transition needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Passes {
    /// A single passed check.
    One,
    /// The spec's healthy threshold.
    Threshold,
}

impl Passes {
    /// The number of passes, given the spec's healthy threshold (at least 1).
    pub fn count(self, healthy_threshold: u32) -> u32 {
        match self {
            Passes::One => 1,
            Passes::Threshold => healthy_threshold.max(1),
        }
    }
}

/// Azure: TCP successes that take a backend out of its initial down state. spec/azure-lb.md
/// section 2: "A backend starts down and is marked up after the first successful probe".
pub const DEFAULT_AZURE_TCP_INITIAL_SUCCESSES: Passes = Passes::One;
/// Azure: TCP successes that bring back a backend that failures marked down. spec/azure-lb.md
/// section 2: "with a threshold of N, TCP probes need N consecutive successes to put it back in
/// rotation \[doc 2026\]\[api\]". That sentence could also be read as covering the initial down
/// state, hence the separate, configurable [`DEFAULT_AZURE_TCP_INITIAL_SUCCESSES`].
pub const DEFAULT_AZURE_TCP_RECOVERY_SUCCESSES: Passes = Passes::Threshold;

/// ALB: passed checks that take a target from `initial` to `healthy`. AWS documents one ("the
/// healthy threshold applies only when recovering from unhealthy", spec/aws-elb.md section 1).
pub const DEFAULT_ALB_INITIAL_PASSES: Passes = Passes::One;
/// NLB: passed checks from `initial` to `healthy`. Unverified (spec/aws-elb.md section 2). The NLB
/// guide speaks of passing "the initial health checks" and `Elb.InitialHealthChecking` of "the
/// minimum number of health checks required", and registration is reported to take minutes; the
/// healthy threshold matches that better than ALB's single check.
pub const DEFAULT_NLB_INITIAL_PASSES: Passes = Passes::Threshold;

/// ALB/NLB: how long a target stays `initial` with `Elb.RegistrationInProgress` before health
/// checks count. NLB registrations of 90 s to minutes were reported but never pinned down
/// (spec/aws-elb.md section 2), so by default only the health checks decide.
pub const DEFAULT_REGISTRATION_DELAY: Duration = Duration::ZERO;

/// ALB/NLB `deregistration_delay.timeout_seconds` when the spec names none: AWS's default.
pub const DEFAULT_DEREGISTRATION_DELAY: Duration = Duration::from_secs(300);

/// ALB: how long new requests keep arriving after deregistration starts. AWS says routing stops
/// at once; users and a controller maintainer report "10 to several tens of seconds"
/// (spec/aws-elb.md section 1), and the rollout of spec/scenarios.md S4 needed a 30 s preStop
/// sleep. 30 s is the middle of the reports.
pub const DEFAULT_PROPAGATION_LAG: Duration = Duration::from_secs(30);
/// NLB: users measured at least 2 minutes of new connections after deregistration in IP mode
/// (spec/aws-elb.md section 2).
pub const DEFAULT_NLB_PROPAGATION_LAG: Duration = Duration::from_secs(120);

/// CLB connection draining when the spec names none: the legacy provider leaves it disabled
/// unless `aws-load-balancer-connection-draining-enabled` says otherwise.
pub const DEFAULT_CLB_CONNECTION_DRAINING: Duration = Duration::ZERO;
/// CLB: AWS says it stops routing to a deregistered instance at once, and no measurement says
/// otherwise; set a lag when one is observed.
pub const DEFAULT_CLB_PROPAGATION_LAG: Duration = Duration::ZERO;

/// Flapping is reported, never acted on: Azure says it "waits longer" before putting a
/// fluctuating backend back but not how long (spec/azure-lb.md section 2), so probesim adds no
/// delay. A backend is reported flapping when it entered or left rotation this many times...
pub const DEFAULT_FLAP_MIN_FLIPS: u32 = 4;
/// ...within this window: two full out-and-back cycles within five minutes, which a rollout or
/// a single outage does not produce.
pub const DEFAULT_FLAP_WINDOW: Duration = Duration::from_secs(300);
/// Flips remembered per machine, which bounds [`FlapSettings::min_flips`].
pub const MAX_TRACKED_FLIPS: usize = 8;

/// Everything the LB state machines need beyond the [`crate::model::ProbeSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmulationSettings {
    pub azure: AzureHealthSettings,
    pub alb: Elbv2HealthSettings,
    pub nlb: Elbv2HealthSettings,
    pub clb: ClbHealthSettings,
    pub flapping: FlapSettings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AzureHealthSettings {
    /// TCP successes that end the initial down state (HTTP: one 200, always).
    pub tcp_initial_successes: Passes,
    /// TCP successes that end a down state caused by failures.
    pub tcp_recovery_successes: Passes,
}

impl Default for AzureHealthSettings {
    fn default() -> Self {
        AzureHealthSettings {
            tcp_initial_successes: DEFAULT_AZURE_TCP_INITIAL_SUCCESSES,
            tcp_recovery_successes: DEFAULT_AZURE_TCP_RECOVERY_SUCCESSES,
        }
    }
}

/// ALB or NLB target group behaviour; the defaults differ per LB: [`Elbv2HealthSettings::ALB`],
/// [`Elbv2HealthSettings::NLB`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elbv2HealthSettings {
    /// Passed checks from `initial` to `healthy`.
    pub initial_passes: Passes,
    /// Time in `Elb.RegistrationInProgress` before health checks count.
    pub registration_delay: Duration,
    /// How long new requests keep arriving after deregistration starts.
    pub propagation_lag: Duration,
}

impl Elbv2HealthSettings {
    pub const ALB: Elbv2HealthSettings = Elbv2HealthSettings {
        initial_passes: DEFAULT_ALB_INITIAL_PASSES,
        registration_delay: DEFAULT_REGISTRATION_DELAY,
        propagation_lag: DEFAULT_PROPAGATION_LAG,
    };
    pub const NLB: Elbv2HealthSettings = Elbv2HealthSettings {
        initial_passes: DEFAULT_NLB_INITIAL_PASSES,
        registration_delay: DEFAULT_REGISTRATION_DELAY,
        propagation_lag: DEFAULT_NLB_PROPAGATION_LAG,
    };
}

impl Default for EmulationSettings {
    fn default() -> Self {
        EmulationSettings {
            azure: AzureHealthSettings::default(),
            alb: Elbv2HealthSettings::ALB,
            nlb: Elbv2HealthSettings::NLB,
            clb: ClbHealthSettings::default(),
            flapping: FlapSettings::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClbHealthSettings {
    /// How long new requests keep arriving after deregistration starts.
    pub propagation_lag: Duration,
}

impl Default for ClbHealthSettings {
    fn default() -> Self {
        ClbHealthSettings {
            propagation_lag: DEFAULT_CLB_PROPAGATION_LAG,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlapSettings {
    /// Flips into or out of rotation within `window` that make a backend flapping.
    pub min_flips: u32,
    pub window: Duration,
}

impl Default for FlapSettings {
    fn default() -> Self {
        FlapSettings {
            min_flips: DEFAULT_FLAP_MIN_FLIPS,
            window: DEFAULT_FLAP_WINDOW,
        }
    }
}

/// A setting the state machines cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("flapping.min_flips {value} must be between 1 and {max}")]
    FlapMinFlips { value: u32, max: usize },
    #[error("flapping.window must be longer than zero")]
    FlapWindowZero,
}

impl EmulationSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        let flips = self.flapping.min_flips;
        if flips == 0 || flips as usize > MAX_TRACKED_FLIPS {
            return Err(SettingsError::FlapMinFlips {
                value: flips,
                max: MAX_TRACKED_FLIPS,
            });
        }
        if self.flapping.window.is_zero() {
            return Err(SettingsError::FlapWindowZero);
        }
        Ok(())
    }
}
