//! Reading annotations the way the cloud controllers do, with errors that name the key and value.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// An object's annotations; absent annotations read as none.
#[derive(Clone, Copy, Debug)]
pub struct Annotations<'a>(Option<&'a BTreeMap<String, String>>);

impl<'a> Annotations<'a> {
    pub fn of(meta: &'a ObjectMeta) -> Annotations<'a> {
        Annotations(meta.annotations.as_ref())
    }

    /// The value of `key`, as written (controllers trim where they say so, not here).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0.and_then(|a| a.get(key)).map(String::as_str)
    }

    /// The value of `key` parsed as a whole number; an error names the key and the value.
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>, String> {
        self.get(key).map(|v| parse_u32(key, v)).transpose()
    }

    /// Whether `key` is set to `"true"` (the controllers compare the exact string).
    pub fn is_true(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }
}

/// Parses a whole number the way Go's `strconv.Atoi` accepts it for these annotations.
pub fn parse_u32(key: &str, value: &str) -> Result<u32, String> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("annotation {key}: {value:?} is not a whole number"))
}
