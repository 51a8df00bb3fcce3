//! The UI's files, embedded at build time, with their content types.

/// One embedded file of collector/ui/.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/ui/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// [`fnv1a`] of the body, computed when the file is embedded.
    pub hash: u64,
}

impl Asset {
    /// A strong entity tag: the FNV-1a hash of the body and its length, quoted.
    pub fn etag(&self) -> String {
        format!("\"{:016x}-{:x}\"", self.hash, self.body.len())
    }
}

/// FNV-1a, 64 bits: enough to tell two builds' files apart. `const`, so that each file's hash
/// is computed at build time rather than per request.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        hash = (hash ^ bytes[i] as u64).wrapping_mul(PRIME);
        i += 1;
    }
    hash
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
            hash: fnv1a(include_bytes!(concat!("../../ui/", $name))),
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
