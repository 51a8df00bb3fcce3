//! Label and field selectors as the API server parses and applies them to lists and watches.
//!
//! Label selectors take the whole set-based syntax (`a=b`, `a==b`, `a!=b`, `a in (x,y)`,
//! `a notin (x)`, `a`, `!a`, comma-separated, all must hold). Field selectors take `=`, `==` and
//! `!=` on the fields the real API server indexes for each kind: `metadata.name` and
//! `metadata.namespace` everywhere, `spec.nodeName`, `status.phase` and a few more on Pods; any
//! other field is refused, as the real server refuses it, so a client that depends on one finds
//! out here rather than in a cluster.

use serde_json::Value;

use super::resource::Resource;

/// Fields every kind can be selected by.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
/// Pod fields kube-apiserver accepts in field selectors (pkg/registry/core/pod/strategy.go).
const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
/// Boolean fields: an absent one reads `false`, as the server formats the Go zero value.
const BOOLEAN_FIELDS: &[&str] = &["spec.hostNetwork", "spec.unschedulable"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("unable to parse requirement {requirement:?} of label selector {selector:?}: {reason}")]
    Label {
        selector: String,
        requirement: String,
        reason: &'static str,
    },
    #[error(
        "invalid field selector {selector:?}: {requirement:?} is not FIELD=VALUE or FIELD!=VALUE"
    )]
    Field {
        selector: String,
        requirement: String,
    },
    /// The message is kube-apiserver's, word for word.
    #[error("field label not supported: {field}")]
    UnsupportedField { resource: Resource, field: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &Value) -> bool {
        let value = labels.get(&self.key).and_then(Value::as_str);
        match self.operator {
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Equals | Operator::In => {
                value.is_some_and(|v| self.values.iter().any(|w| w == v))
            }
            // As in Kubernetes, an object without the label matches `!=` and `notin`.
            Operator::NotEquals | Operator::NotIn => {
                value.is_none_or(|v| self.values.iter().all(|w| w != v))
            }
        }
    }
}

/// A parsed label selector; the empty one matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let requirements = split_outside_parentheses(selector)
            .into_iter()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| {
                parse_requirement(r).map_err(|reason| SelectorError::Label {
                    selector: selector.to_owned(),
                    requirement: r.to_owned(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object (with its `metadata.labels`) is selected.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

/// Splits on commas that are not inside `( )`, so `a in (x,y),b` gives two requirements.
fn split_outside_parentheses(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_requirement(r: &str) -> Result<Requirement, &'static str> {
    let requirement = |key: &str, operator, values: Vec<String>| {
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) || key.contains(['!', '=', '(', ')'])
        {
            return Err("the key is empty or has a character a label key cannot have");
        }
        Ok(Requirement {
            key: key.to_owned(),
            operator,
            values,
        })
    };
    if let Some(key) = r.strip_prefix('!') {
        return requirement(key, Operator::DoesNotExist, Vec::new());
    }
    for (token, operator) in [
        ("!=", Operator::NotEquals),
        ("==", Operator::Equals),
        ("=", Operator::Equals),
    ] {
        if let Some((key, value)) = r.split_once(token) {
            let value = value.trim();
            if value.contains(char::is_whitespace) || value.contains(['=', '!', '(', ')']) {
                return Err("the value has a character a label value cannot have");
            }
            return requirement(key, operator, vec![value.to_owned()]);
        }
    }
    if let Some(open) = r.find('(') {
        let (head, list) = (&r[..open], &r[open + 1..]);
        let list = list
            .strip_suffix(')')
            .ok_or("a set of values must end with ')'")?;
        let (key, word) = head
            .trim_end()
            .rsplit_once(char::is_whitespace)
            .ok_or("expected KEY in (VALUES) or KEY notin (VALUES)")?;
        let operator = match word {
            "in" => Operator::In,
            "notin" => Operator::NotIn,
            _ => return Err("expected the operator 'in' or 'notin' before '('"),
        };
        let values: Vec<String> = list.split(',').map(|v| v.trim().to_owned()).collect();
        if values.iter().any(|v| v.contains(char::is_whitespace)) {
            return Err("a value in a set has whitespace inside");
        }
        return requirement(key, operator, values);
    }
    requirement(r, Operator::Exists, Vec::new())
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    equal: bool,
    value: String,
}

/// A parsed field selector for one resource; the empty one matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `selector` for objects of `resource`, refusing fields the server does not index.
    pub fn parse(selector: &str, resource: Resource) -> Result<FieldSelector, SelectorError> {
        let mut requirements = Vec::new();
        for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(SelectorError::Field {
                    selector: selector.to_owned(),
                    requirement: part.to_owned(),
                });
            };
            let field = field.trim();
            if !supported(resource, field) {
                return Err(SelectorError::UnsupportedField {
                    resource,
                    field: field.to_owned(),
                });
            }
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                equal,
                value: value.trim().to_owned(),
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.requirements
            .iter()
            .all(|r| (field_value(object, &r.field) == r.value) == r.equal)
    }
}

fn supported(resource: Resource, field: &str) -> bool {
    COMMON_FIELDS.contains(&field)
        || match resource {
            Resource::Pod => POD_FIELDS.contains(&field),
            Resource::Node => field == "spec.unschedulable",
            Resource::Namespace => field == "status.phase",
            Resource::Service => matches!(field, "spec.clusterIP" | "spec.type"),
            _ => false,
        }
}

/// A field's value as the server compares it: text, or `true`/`false`; absent is empty text.
fn field_value(object: &Value, field: &str) -> String {
    let value = field.split('.').fold(object, |v, part| &v[part]);
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null if BOOLEAN_FIELDS.contains(&field) => "false".to_owned(),
        _ => String::new(),
    }
}

/// The label and field selectors of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selector {
    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests;
