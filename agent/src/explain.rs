//! Views of derived probes for `probesim-agent explain`: the JSON contract of design.md, a table
//! for people, and the comparison of two versions in words.

pub mod cloud;
pub mod compare;
pub mod describe;
pub mod json;
pub mod table;

use crate::lb::{self, Objects, Settings};
use crate::model::ServiceResult;

/// The derived probes of a set of objects under one set of settings.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub settings: Settings,
    pub results: Vec<ServiceResult>,
}

impl Explanation {
    pub fn new(objects: &Objects, settings: Settings) -> Explanation {
        let results = lb::derive(objects, &settings);
        Explanation { settings, results }
    }
}
