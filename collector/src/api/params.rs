//! Query parameters: a time range (`from`, `to`: RFC 3339 or unix milliseconds) and a backend
//! filter (`service=namespace/name`, `node`, `lb`, `version`). Unknown parameters are refused, so
//! a typo is not silently a query for everything.

use std::time::SystemTime;

use crate::store::codec::{self, from_ms};
use crate::store::{Filter, TimeRange};

/// A parameter that does not parse: the API answers 400 with this.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("query parameter {name}={value:?}: {reason}")]
pub struct ParamError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

fn bad(name: &str, value: &str, reason: impl Into<String>) -> ParamError {
    ParamError {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// The parameters of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pub range: Option<(Option<SystemTime>, Option<SystemTime>)>,
    pub filter: Filter,
    /// The report's format (`text`, `markdown`, `json`), where a route takes one.
    pub format: Option<String>,
}

/// A time: RFC 3339 (`2024-05-01T12:00:00.5Z`, any offset) or unix milliseconds.
pub fn parse_time(name: &str, value: &str) -> Result<SystemTime, ParamError> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(from_ms(ms));
    }
    let ts: jiff::Timestamp = value.parse().map_err(|e: jiff::Error| {
        bad(
            name,
            value,
            format!("not RFC 3339 nor unix milliseconds: {e}"),
        )
    })?;
    Ok(from_ms(ts.as_millisecond()))
}

/// Parses `query` (without `?`), accepting only the parameters in `allowed`.
pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Params, ParamError> {
    let mut params = Params::default();
    let (mut from, mut to) = (None, None);
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !allowed.contains(&name) {
            return Err(bad(
                name,
                value,
                format!("unknown here; use {}", allowed.join(", ")),
            ));
        }
        let text = || Some(value.to_owned());
        match name {
            "from" => from = Some(parse_time(name, value)?),
            "to" => to = Some(parse_time(name, value)?),
            "service" => {
                if value.split('/').count() != 2 {
                    return Err(bad(name, value, "not namespace/name"));
                }
                params.filter.service = text();
            }
            "node" => params.filter.node = text(),
            "lb" => {
                let lb = codec::lb_kind(value)
                    .map_err(|_| bad(name, value, "not azure-lb, alb, nlb or clb"))?;
                params.filter.lb = Some(lb);
            }
            "version" => params.filter.version = text(),
            "format" => params.format = text(),
            _ => {}
        }
    }
    if from.is_some() || to.is_some() {
        params.range = Some((from, to));
    }
    Ok(params)
}

impl Params {
    /// The requested range, defaulting to the last hour up to `now` (or up to `to`).
    pub fn range(&self, now: SystemTime) -> Result<TimeRange, ParamError> {
        let (from, to) = self.range.unwrap_or((None, None));
        let to = to.unwrap_or(now);
        let range = match from {
            Some(from) => TimeRange { from, to },
            None => TimeRange::recent(to),
        };
        if range.from > range.to {
            return Err(bad(
                "from",
                &crate::api::json::rfc3339(range.from),
                "is after to",
            ));
        }
        Ok(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probesim_agent::model::LbKind;

    const ALL: &[&str] = &["from", "to", "service", "node", "lb", "version"];

    #[test]
    fn times_parse_from_rfc3339_with_offsets_and_from_unix_milliseconds() {
        let table = [
            ("1700000000123", 1_700_000_000_123),
            ("2023-11-14T22:13:20.123Z", 1_700_000_000_123),
            ("2023-11-14T23:13:20.123+01:00", 1_700_000_000_123),
        ];
        for (text, ms) in table {
            assert_eq!(parse_time("from", text), Ok(from_ms(ms)), "{text}");
        }
        let err = parse_time("from", "yesterday").unwrap_err();
        assert_eq!(
            (err.name.as_str(), err.value.as_str()),
            ("from", "yesterday")
        );
    }

    #[test]
    fn filters_parse_and_bad_or_unknown_parameters_are_named() {
        let p = parse(
            Some("service=default%2Fweb&lb=alb&node=n1&version=1.33"),
            ALL,
        )
        .unwrap();
        assert_eq!(p.filter.service.as_deref(), Some("default/web"));
        assert_eq!(p.filter.lb, Some(LbKind::Alb));
        assert_eq!(p.filter.node.as_deref(), Some("n1"));
        let table = [
            ("lb=elb", "lb"),
            ("service=web", "service"),
            ("sevice=default/web", "sevice"),
            ("from=soon", "from"),
        ];
        for (query, name) in table {
            assert_eq!(parse(Some(query), ALL).unwrap_err().name, name, "{query}");
        }
    }

    #[test]
    fn the_range_defaults_to_the_last_hour_and_refuses_from_after_to() {
        let now = from_ms(10_000_000);
        let p = parse(None, ALL).unwrap();
        assert_eq!(
            p.range(now).unwrap(),
            TimeRange {
                from: from_ms(10_000_000 - 3_600_000),
                to: now
            }
        );
        let p = parse(Some("from=2000&to=1000"), ALL).unwrap();
        assert_eq!(p.range(now).unwrap_err().name, "from");
    }
}
