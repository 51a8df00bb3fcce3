//! Turning socket errors into outcomes, by side: what the target did, or what our host could not.

use std::io;

use crate::lb::outcome::{LocalFailure, Outcome, Phase};

/// Classifies an error of `connect(2)` or of I/O on an established connection in `phase`.
pub fn io_error(e: &io::Error, phase: Phase) -> Outcome {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Outcome::Refused,
        Some(libc::ECONNRESET) | Some(libc::EPIPE) | Some(libc::ECONNABORTED) => {
            Outcome::Reset { phase }
        }
        Some(libc::ETIMEDOUT) => Outcome::Timeout { phase },
        // ICMP host unreachable, or no ARP answer for an on-link target.
        Some(libc::EHOSTUNREACH) => Outcome::Unreachable,
        // Raised by our own routing table before any packet leaves.
        Some(libc::ENETUNREACH) => Outcome::Local(LocalFailure::NoRoute),
        Some(libc::EADDRNOTAVAIL) => Outcome::Local(LocalFailure::EphemeralPortsExhausted),
        Some(libc::EMFILE) => Outcome::Local(LocalFailure::ProcessFdLimit),
        Some(libc::ENFILE) => Outcome::Local(LocalFailure::SystemFdLimit),
        _ => match e.kind() {
            io::ErrorKind::ConnectionRefused => Outcome::Refused,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => Outcome::Reset { phase },
            io::ErrorKind::UnexpectedEof => Outcome::Closed,
            io::ErrorKind::TimedOut => Outcome::Timeout { phase },
            _ => Outcome::Local(LocalFailure::Other),
        },
    }
}

/// Classifies an error of an HTTP exchange (hyper), looking through it for the socket error.
pub fn hyper_error(e: &hyper::Error) -> Outcome {
    if e.is_parse() || e.is_parse_status() {
        return Outcome::Malformed;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return io_error(io, Phase::Response);
        }
        if let Some(h2) = s.downcast_ref::<h2_reason::H2Error>() {
            return h2_reason::classify(h2);
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return Outcome::Closed;
    }
    Outcome::Malformed
}

/// HTTP/2 errors arrive wrapped by hyper; a GOAWAY or RST_STREAM from the peer is its refusal to
/// answer, which the LB counts like a reset.
mod h2_reason {
    use crate::lb::outcome::{Outcome, Phase};

    pub type H2Error = h2::Error;

    pub fn classify(e: &h2::Error) -> Outcome {
        if let Some(io) = e.get_io() {
            return super::io_error(io, Phase::Response);
        }
        if e.is_go_away() || e.is_reset() {
            return Outcome::Reset {
                phase: Phase::Response,
            };
        }
        Outcome::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_map_to_the_right_side() {
        let cases = [
            (libc::ECONNREFUSED, Outcome::Refused),
            (libc::ECONNRESET, Outcome::Reset { phase: Phase::Tls }),
            (libc::ETIMEDOUT, Outcome::Timeout { phase: Phase::Tls }),
            (libc::EHOSTUNREACH, Outcome::Unreachable),
            (libc::ENETUNREACH, Outcome::Local(LocalFailure::NoRoute)),
            (
                libc::EADDRNOTAVAIL,
                Outcome::Local(LocalFailure::EphemeralPortsExhausted),
            ),
            (libc::EMFILE, Outcome::Local(LocalFailure::ProcessFdLimit)),
            (libc::ENFILE, Outcome::Local(LocalFailure::SystemFdLimit)),
            (libc::ENOBUFS, Outcome::Local(LocalFailure::Other)),
        ];
        for (errno, expected) in cases {
            let e = io::Error::from_raw_os_error(errno);
            assert_eq!(io_error(&e, Phase::Tls), expected, "errno {errno}");
        }
    }
}
