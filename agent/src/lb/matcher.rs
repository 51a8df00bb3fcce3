//! Success-code matchers of AWS target groups: `200`, `200,202`, `200-299`, `200,202-204`, and the
//! gRPC form `0`, `0-5`, `0,1`.

use std::fmt;
use std::ops::RangeInclusive;

/// What a matcher's codes are matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatcherKind {
    /// HTTP status codes.
    Http,
    /// gRPC status codes (`grpc-status`).
    Grpc,
}

/// ALB HTTP/HTTPS target groups accept codes 200-499 (spec/aws-elb.md section 1).
pub const ALB_HTTP_RANGE: RangeInclusive<u16> = 200..=499;
/// ALB GRPC target groups accept gRPC codes 0-99 (spec/aws-elb.md section 1).
pub const ALB_GRPC_RANGE: RangeInclusive<u16> = 0..=99;
/// NLB HTTP/HTTPS health checks accept codes 200-599 (spec/aws-elb.md section 2).
pub const NLB_HTTP_RANGE: RangeInclusive<u16> = 200..=599;

/// A parsed success-code matcher. Its text is kept as written so that it prints as the user and
/// the AWS console show it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Matcher {
    kind: MatcherKind,
    ranges: Vec<RangeInclusive<u16>>,
    text: String,
}

/// Why a matcher was not accepted. The caller names the field (annotation) it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("{value:?} is empty")]
    Empty { value: String },
    #[error("{value:?}: {item:?} is not a code or a range of codes")]
    Syntax { value: String, item: String },
    #[error("{value:?}: range {item:?} runs backwards")]
    Backwards { value: String, item: String },
    #[error("{value:?}: code {code} is outside the allowed {min}-{max}")]
    OutOfRange {
        value: String,
        code: u16,
        min: u16,
        max: u16,
    },
}

impl Matcher {
    /// Parses `value` and checks every code against `allowed`, the range the LB accepts for this
    /// kind of matcher.
    pub fn parse(
        kind: MatcherKind,
        value: &str,
        allowed: RangeInclusive<u16>,
    ) -> Result<Matcher, MatcherError> {
        let text = value.trim();
        if text.is_empty() {
            return Err(MatcherError::Empty {
                value: value.to_owned(),
            });
        }
        let mut ranges = Vec::new();
        for raw in text.split(',') {
            let item = raw.trim();
            let syntax = || MatcherError::Syntax {
                value: value.to_owned(),
                item: item.to_owned(),
            };
            let (lo, hi) = match item.split_once('-') {
                Some((lo, hi)) => (parse_code(lo).ok_or_else(syntax)?, {
                    parse_code(hi).ok_or_else(syntax)?
                }),
                None => {
                    let code = parse_code(item).ok_or_else(syntax)?;
                    (code, code)
                }
            };
            if lo > hi {
                return Err(MatcherError::Backwards {
                    value: value.to_owned(),
                    item: item.to_owned(),
                });
            }
            for code in [lo, hi] {
                if !allowed.contains(&code) {
                    return Err(MatcherError::OutOfRange {
                        value: value.to_owned(),
                        code,
                        min: *allowed.start(),
                        max: *allowed.end(),
                    });
                }
            }
            ranges.push(lo..=hi);
        }
        Ok(Matcher {
            kind,
            ranges,
            text: text.to_owned(),
        })
    }

    pub fn kind(&self) -> MatcherKind {
        self.kind
    }

    /// Whether a status code (HTTP or gRPC, by [`Matcher::kind`]) counts as success.
    pub fn matches(&self, code: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(&code))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A code is plain decimal digits: no sign, no spaces inside, at most five digits.
fn parse_code(s: &str) -> Option<u16> {
    let s = s.trim();
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn http(value: &str) -> Result<Matcher, MatcherError> {
        Matcher::parse(MatcherKind::Http, value, ALB_HTTP_RANGE)
    }

    #[test]
    fn single_code_list_and_range_forms_all_parse() {
        let cases: &[(&str, &[u16], &[u16])] = &[
            ("200", &[200], &[199, 201, 404]),
            ("200,202", &[200, 202], &[201, 203]),
            ("200-299", &[200, 250, 299], &[199, 300]),
            (
                "200,202-204,302",
                &[200, 202, 203, 204, 302],
                &[201, 205, 301],
            ),
            (" 200 , 301 ", &[200, 301], &[302]),
        ];
        for (text, yes, no) in cases {
            let m = http(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            for code in *yes {
                assert!(m.matches(*code), "{text} should match {code}");
            }
            for code in *no {
                assert!(!m.matches(*code), "{text} should not match {code}");
            }
        }
    }

    #[test]
    fn malformed_matchers_are_rejected_with_the_offending_item() {
        assert!(matches!(http(""), Err(MatcherError::Empty { .. })));
        assert!(matches!(http("abc"), Err(MatcherError::Syntax { item, .. }) if item == "abc"));
        assert!(matches!(http("200,"), Err(MatcherError::Syntax { .. })));
        assert!(matches!(http("200-"), Err(MatcherError::Syntax { .. })));
        assert!(matches!(http("-200"), Err(MatcherError::Syntax { .. })));
        assert!(matches!(http("+200"), Err(MatcherError::Syntax { .. })));
        assert!(matches!(
            http("299-200"),
            Err(MatcherError::Backwards { .. })
        ));
    }

    #[test]
    fn each_lb_range_is_enforced() {
        assert!(matches!(
            http("500"),
            Err(MatcherError::OutOfRange {
                code: 500,
                min: 200,
                max: 499,
                ..
            })
        ));
        assert!(http("199").is_err());
        assert!(Matcher::parse(MatcherKind::Http, "500-599", NLB_HTTP_RANGE).is_ok());
        assert!(Matcher::parse(MatcherKind::Http, "600", NLB_HTTP_RANGE).is_err());
        assert!(Matcher::parse(MatcherKind::Grpc, "0-99", ALB_GRPC_RANGE).is_ok());
        assert!(Matcher::parse(MatcherKind::Grpc, "100", ALB_GRPC_RANGE).is_err());
        assert!(
            Matcher::parse(MatcherKind::Grpc, "12", ALB_GRPC_RANGE).is_ok_and(|m| m.matches(12))
        );
    }

    #[test]
    fn error_messages_quote_the_value() {
        let err = http("200-600").unwrap_err().to_string();
        assert_eq!(err, "\"200-600\": code 600 is outside the allowed 200-499");
    }

    proptest! {
        #[test]
        fn a_generated_list_matches_exactly_its_codes(
            items in prop::collection::vec((200u16..=499, 0u16..20), 1..6),
            probe in 150u16..650,
        ) {
            let text = items
                .iter()
                .map(|(lo, len)| {
                    let hi = (lo + len).min(499);
                    if hi == *lo { lo.to_string() } else { format!("{lo}-{hi}") }
                })
                .collect::<Vec<_>>()
                .join(",");
            let m = http(&text).unwrap();
            let expected = items.iter().any(|(lo, len)| (*lo..=(lo + len).min(499)).contains(&probe));
            prop_assert_eq!(m.matches(probe), expected);
            prop_assert_eq!(m.to_string(), text);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in ".{0,40}") {
            let _ = http(&s);
            let _ = Matcher::parse(MatcherKind::Grpc, &s, ALB_GRPC_RANGE);
        }
    }
}
