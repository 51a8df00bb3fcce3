//! The UI's files, embedded at build time, with their content types.

/// One embedded file of collector/ui/.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/ui/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

impl Asset {
    /// A strong entity tag: the FNV-1a hash of the body and its length, quoted.
    pub fn etag(&self) -> String {
        format!("\"{:016x}-{:x}\"", fnv1a(self.body), self.body.len())
    }
}

/// FNV-1a, 64 bits: enough to tell two builds' files apart.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../ui/", $name)),
        }
    };
}

/// Every file of the UI.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("palette.js", JS),
    asset!("format.js", JS),
    asset!("overview.js", JS),
    asset!("timeline.js", JS),
    asset!("lanes.js", JS),
    asset!("rollout.js", JS),
];
