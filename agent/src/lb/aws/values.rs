//! Annotation values read the way the AWS controllers read them: exact strings, Go's
//! `strconv.ParseInt` for numbers, and errors that name the object, the key and the value.

use std::fmt;
use std::ops::RangeInclusive;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::lb::annotations::Annotations;
use crate::model::ObjectRef;

/// Errors and warnings gathered while deriving one object's target groups.
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Findings {
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }
}

/// One annotation as a controller found it.
#[derive(Clone, Debug)]
pub(super) struct Found<'a> {
    /// The object that carries the annotation.
    pub origin: &'a ObjectRef,
    pub key: String,
    pub value: &'a str,
}

impl Found<'_> {
    /// `Kind/ns/name: annotation KEY: "VALUE" PROBLEM`.
    pub fn invalid(&self, problem: impl fmt::Display) -> String {
        format!(
            "{}: annotation {}: {:?} {problem}",
            self.origin, self.key, self.value
        )
    }

    /// `Kind/ns/name: annotation KEY: MESSAGE`, for messages that quote the value themselves.
    pub fn says(&self, message: impl fmt::Display) -> String {
        format!("{}: annotation {}: {message}", self.origin, self.key)
    }
}

/// The annotations one controller reads for one target group: keys are `prefix` + suffix, and
/// the first layer that has a key wins (the ALB controller puts the backend Service before the
/// Ingress).
#[derive(Clone, Debug)]
pub(super) struct Layers<'a> {
    prefix: &'static str,
    layers: Vec<(&'a ObjectRef, Annotations<'a>)>,
}

impl<'a> Layers<'a> {
    pub fn new(prefix: &'static str) -> Layers<'a> {
        Layers {
            prefix,
            layers: Vec::new(),
        }
    }

    /// Adds a layer below those already added.
    pub fn then(mut self, origin: &'a ObjectRef, meta: &'a ObjectMeta) -> Layers<'a> {
        self.layers.push((origin, Annotations::of(meta)));
        self
    }

    /// The full key of a suffix, e.g. `alb.ingress.kubernetes.io/target-type`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub fn get(&self, suffix: &str) -> Option<Found<'a>> {
        let key = self.key(suffix);
        self.layers.iter().find_map(|(origin, annotations)| {
            annotations.get(&key).map(|value| Found {
                origin,
                key: key.clone(),
                value,
            })
        })
    }

    /// The value of a suffix, or `default` when no layer has it.
    pub fn string(&self, suffix: &str, default: &'a str) -> &'a str {
        self.get(suffix).map_or(default, |found| found.value)
    }

    /// A whole number of seconds or checks: `default` when absent; an error and `default` when
    /// it is not a number (Go's `strconv.ParseInt`: optional sign, digits, nothing else) or
    /// outside the range AWS accepts.
    pub fn count(
        &self,
        suffix: &str,
        default: u32,
        allowed: RangeInclusive<u32>,
        findings: &mut Findings,
    ) -> u32 {
        let Some(found) = self.get(suffix) else {
            return default;
        };
        match number_in(found.value, &allowed) {
            Ok(n) => n,
            Err(problem) => {
                findings.error(found.invalid(problem));
                default
            }
        }
    }
}

/// Why a value is not a number in `allowed`, in words a user understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum NumberProblem {
    NotANumber,
    OutOfRange { min: u32, max: u32 },
}

impl fmt::Display for NumberProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberProblem::NotANumber => f.write_str("is not a whole number"),
            NumberProblem::OutOfRange { min, max } => {
                write!(f, "is outside the range AWS accepts, {min}-{max}")
            }
        }
    }
}

/// Parses `value` as Go's `strconv.ParseInt(value, 10, 64)` does and checks it against `allowed`.
pub(super) fn number_in(value: &str, allowed: &RangeInclusive<u32>) -> Result<u32, NumberProblem> {
    let n = go_parse_int(value).ok_or(NumberProblem::NotANumber)?;
    u32::try_from(n)
        .ok()
        .filter(|n| allowed.contains(n))
        .ok_or(NumberProblem::OutOfRange {
            min: *allowed.start(),
            max: *allowed.end(),
        })
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional `+` or `-`, then ASCII digits only (no spaces,
/// no underscores), within `i64`.
pub(super) fn go_parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's parser accepts the same sign and digits, and refuses what overflows i64.
    s.parse().ok()
}

impl Findings {
    /// Hands the findings to a result: warnings as they are, and any error rejects the object
    /// (a controller that fails on one target group reconciles none of them).
    pub fn finish(self, mut result: crate::model::ServiceResult) -> crate::model::ServiceResult {
        result.warnings.extend(self.warnings);
        for error in self.errors {
            result.reject(error);
        }
        result
    }
}
