//! Serde for durations written as in the command line: `500ms`, `30s`, `2m` or plain seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Seconds(f64),
        Text(String),
    }
    match Written::deserialize(d)? {
        Written::Seconds(s) => Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom),
        Written::Text(t) => probesim_agent::duration::parse(&t).map_err(serde::de::Error::custom),
    }
}

/// The same for `Option<Duration>` fields.
pub mod optional {
    use std::time::Duration;

    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::deserialize(d).map(Some)
    }
}
