//! `target-group-attributes`: comma-separated `key=value` pairs handed to AWS as target group
//! attributes. probesim reads `deregistration_delay.timeout_seconds` from them.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use super::values::{Findings, Found, number_in};

/// The attribute that sets how long a deregistered target drains.
pub(super) const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
/// AWS's default `deregistration_delay.timeout_seconds` (spec/aws-elb.md sections 1 and 2).
pub(super) const DEFAULT_DEREGISTRATION_DELAY_S: u32 = 300;
/// What AWS accepts for `deregistration_delay.timeout_seconds`.
pub(super) const DEREGISTRATION_DELAY_RANGE: RangeInclusive<u32> = 0..=3600;

/// Parses the annotation the way the AWS Load Balancer Controller parses string maps: pairs
/// split on commas and trimmed, empty pairs skipped, each split at its first `=`; a pair
/// without `=` or with an empty key fails the whole annotation. Keys and values are not trimmed
/// around the `=`.
pub(super) fn parse(
    found: &Found<'_>,
    findings: &mut Findings,
) -> Option<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for pair in found
        .value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                map.insert(key.to_owned(), value.to_owned());
            }
            _ => {
                findings.error(found.invalid(format_args!(
                    "is not a list of key=value pairs: {pair:?} has no key or no '='"
                )));
                return None;
            }
        }
    }
    Some(map)
}

/// The deregistration delay set by a parsed attribute map, validated as AWS does; the AWS
/// default when the attribute is absent or invalid (an error says which).
pub(super) fn deregistration_delay(
    attributes: &BTreeMap<String, String>,
    found: &Found<'_>,
    findings: &mut Findings,
) -> u32 {
    let Some(value) = attributes.get(DEREGISTRATION_DELAY) else {
        return DEFAULT_DEREGISTRATION_DELAY_S;
    };
    match number_in(value, &DEREGISTRATION_DELAY_RANGE) {
        Ok(seconds) => seconds,
        Err(problem) => {
            findings.error(found.invalid(format_args!(
                "sets {DEREGISTRATION_DELAY} to {value:?}, which {problem}"
            )));
            DEFAULT_DEREGISTRATION_DELAY_S
        }
    }
}
