use super::*;

const LB: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);
const ALB: Ipv4Addr = Ipv4Addr::new(10, 224, 255, 10);
const NODE: Ipv4Addr = Ipv4Addr::new(10, 224, 0, 4);
const SYN: u8 = TcpFlags::SYN;
const SYN_ACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN | TcpFlags::ACK;
const RST: u8 = TcpFlags::RST | TcpFlags::ACK;

fn tracker() -> Tracker {
    Tracker::new(
        Sources {
            nets: vec![(LB, 32), (Ipv4Addr::new(10, 224, 255, 0), 24)],
            probe_only: vec![LB],
        },
        8,
        Duration::from_secs(5),
    )
}

/// `(from the LB?, flags, payload, milliseconds after the SYN)`.
type Pkt = (bool, u8, &'static [u8], u64);
/// `(name, packets, outcome, connect time, first byte time)`.
type Case = (
    &'static str,
    Vec<Pkt>,
    Outcome,
    Option<Duration>,
    Option<Duration>,
);

fn play(t: &mut Tracker, lb: Ipv4Addr, packets: &[Pkt]) -> Vec<Step> {
    let t0 = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    packets
        .iter()
        .map(|(from_lb, flags, payload, ms)| {
            let (src, sport, dst, dport) = if *from_lb {
                (lb, 40000, NODE, 30080)
            } else {
                (NODE, 30080, lb, 40000)
            };
            let seg = Segment {
                src,
                dst,
                sport,
                dport,
                seq: 1,
                ack: 1,
                flags: *flags,
                payload,
            };
            let at = t0 + Duration::from_millis(*ms);
            t.packet(&seg, at, wall + Duration::from_millis(*ms))
        })
        .filter(|s| *s != Step::None)
        .collect()
}

fn outcome(steps: &[Step]) -> Option<(Outcome, Timings)> {
    match steps {
        [Step::Probe(o)] => Some((o.outcome, o.timings)),
        _ => None,
    }
}

const HTTP_GET: &[u8] =
    b"GET /healthz HTTP/1.1\r\nHost: 10.224.0.4\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\r\n";
const PLAIN_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: shop\r\nUser-Agent: curl/8\r\n\r\n";

#[test]
fn each_probe_connection_ends_in_the_outcome_the_lb_got() {
    let ms = Duration::from_millis;
    let table: [Case; 6] = [
        (
            "tcp connected",
            vec![
                (true, SYN, b"", 0),
                (false, SYN_ACK, b"", 2),
                (true, ACK, b"", 3),
                (true, FIN, b"", 4),
            ],
            Outcome::Connected,
            Some(ms(2)),
            None,
        ),
        (
            "refused",
            vec![(true, SYN, b"", 0), (false, RST, b"", 1)],
            Outcome::Refused,
            None,
            None,
        ),
        (
            "http 200",
            vec![
                (true, SYN, b"", 0),
                (false, SYN_ACK, b"", 1),
                (true, ACK, HTTP_GET, 2),
                (false, ACK, b"HTTP/1.1 200 OK\r\n\r\n", 9),
            ],
            Outcome::HttpStatus(200),
            Some(ms(1)),
            Some(ms(9)),
        ),
        (
            "http 503",
            vec![
                (true, SYN, b"", 0),
                (false, SYN_ACK, b"", 1),
                (true, ACK, HTTP_GET, 2),
                (false, ACK, b"HTTP/1.0 503 Service Unavailable\r\n", 4),
            ],
            Outcome::HttpStatus(503),
            Some(ms(1)),
            Some(ms(4)),
        ),
        (
            "reset after the request",
            vec![
                (true, SYN, b"", 0),
                (false, SYN_ACK, b"", 1),
                (true, ACK, HTTP_GET, 2),
                (false, RST, b"", 3),
            ],
            Outcome::Reset {
                phase: Phase::Response,
            },
            Some(ms(1)),
            None,
        ),
        (
            "lb gave up waiting",
            vec![
                (true, SYN, b"", 0),
                (false, SYN_ACK, b"", 1),
                (true, ACK, HTTP_GET, 2),
                (true, FIN, b"", 5000),
            ],
            Outcome::Timeout {
                phase: Phase::Response,
            },
            Some(ms(1)),
            None,
        ),
    ];
    for (name, packets, wanted, connect, first_byte) in table {
        let mut t = tracker();
        let steps = play(&mut t, LB, &packets);
        let (got, timings) = outcome(&steps).unwrap_or_else(|| panic!("{name}: {steps:?}"));
        assert_eq!(got, wanted, "{name}");
        assert_eq!(timings.connect, connect, "{name}");
        assert_eq!(timings.first_byte, first_byte, "{name}");
        assert!(t.is_empty(), "{name}: connection left behind");
    }
}

#[test]
fn silence_expires_as_a_timeout_in_the_phase_reached() {
    let mut t = tracker();
    let t0 = Instant::now();
    assert!(play(&mut t, LB, &[(true, SYN, b"", 0), (true, SYN, b"", 1000)]).is_empty());
    assert!(t.expire(t0 + Duration::from_secs(1)).is_empty());
    let steps = t.expire(t0 + Duration::from_secs(6));
    assert!(
        matches!(&steps[..], [Step::Probe(o)] if o.outcome == Outcome::Timeout { phase: Phase::Connect }),
        "{steps:?}"
    );
}

#[test]
fn alb_subnet_traffic_counts_only_with_the_elb_user_agent_or_no_data() {
    let mut t = tracker();
    let health = [
        (true, SYN, b"" as &[u8], 0),
        (false, SYN_ACK, b"", 1),
        (true, ACK, HTTP_GET, 2),
        (false, ACK, b"HTTP/1.1 200 OK\r\n", 3),
    ];
    let steps = play(&mut t, ALB, &health);
    assert!(
        matches!(&steps[..], [Step::Probe(o)] if o.user_agent.as_deref() == Some("ELB-HealthChecker/2.0"))
    );
    let client = [
        (true, SYN, b"" as &[u8], 0),
        (false, SYN_ACK, b"", 1),
        (true, ACK, PLAIN_GET, 2),
        (false, ACK, b"HTTP/1.1 200 OK\r\n", 3),
    ];
    assert_eq!(play(&mut t, ALB, &client), vec![Step::NotProbe]);
    let tcp_check = [
        (true, SYN, b"" as &[u8], 0),
        (false, SYN_ACK, b"", 1),
        (true, FIN, b"", 2),
    ];
    assert!(matches!(
        outcome(&play(&mut t, ALB, &tcp_check)),
        Some((Outcome::Connected, _))
    ));
}

#[test]
fn a_full_table_skips_new_connections_and_says_so() {
    let mut t = Tracker::new(
        Sources {
            nets: vec![(LB, 32)],
            probe_only: vec![LB],
        },
        1,
        Duration::from_secs(5),
    );
    let t0 = Instant::now();
    let syn = |sport| Segment {
        src: LB,
        dst: NODE,
        sport,
        dport: 80,
        seq: 0,
        ack: 0,
        flags: SYN,
        payload: &[],
    };
    assert_eq!(t.packet(&syn(1), t0, SystemTime::now()), Step::None);
    assert_eq!(t.packet(&syn(2), t0, SystemTime::now()), Step::TableFull);
    assert_eq!(t.len(), 1);
}

#[test]
fn traffic_of_other_hosts_is_ignored() {
    let mut t = tracker();
    let seg = Segment {
        src: NODE,
        dst: Ipv4Addr::new(10, 244, 0, 2),
        sport: 1,
        dport: 2,
        seq: 0,
        ack: 0,
        flags: SYN,
        payload: &[],
    };
    assert_eq!(
        t.packet(&seg, Instant::now(), SystemTime::now()),
        Step::None
    );
    assert!(t.is_empty());
}

#[test]
fn status_lines_and_user_agents_are_read_strictly() {
    assert_eq!(http_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
    assert_eq!(http_status(b"HTTP/1.1 2"), None);
    assert_eq!(http_status(b"HTTP/2 200"), None);
    assert_eq!(http_status(b"HTTP/1.1 999 x"), None);
    assert_eq!(
        http_request_user_agent(b"\x16\x03\x01"),
        None,
        "TLS is not HTTP"
    );
    assert_eq!(
        http_request_user_agent(b"GET / HTTP/1.1\r\n\r\n"),
        Some(None)
    );
    assert_eq!(
        http_request_user_agent(b"GET / HTTP/1.1\r\nuser-agent: ELB-HealthChecker/1.0\r\n\r\n"),
        Some(Some("ELB-HealthChecker/1.0".into()))
    );
}

#[test]
fn the_nodes_answers_are_told_from_the_lbs_packets_when_the_lb_network_holds_the_node_too() {
    // An NLB in the nodes' own subnets: the node's address is inside the LB's network, and the
    // node's answers must still end the LB's connections.
    let shared_subnet = Sources {
        nets: vec![(Ipv4Addr::new(10, 224, 0, 0), 16)],
        probe_only: Vec::new(),
    };
    assert!(shared_subnet.contains(NODE) && shared_subnet.contains(ALB));
    let ms = Duration::from_millis;
    let table: [Case; 3] = [
        (
            "http 200",
            vec![
                (true, SYN, b"", 0),
                (false, SYN_ACK, b"", 1),
                (true, ACK, HTTP_GET, 2),
                (false, ACK, b"HTTP/1.1 200 OK\r\n\r\n", 6),
            ],
            Outcome::HttpStatus(200),
            Some(ms(1)),
            Some(ms(6)),
        ),
        (
            "refused",
            vec![(true, SYN, b"", 0), (false, RST, b"", 1)],
            Outcome::Refused,
            None,
            None,
        ),
        (
            "tcp connected",
            vec![
                (true, SYN, b"", 0),
                (false, SYN_ACK, b"", 2),
                (true, FIN, b"", 3),
            ],
            Outcome::Connected,
            Some(ms(2)),
            None,
        ),
    ];
    for (name, packets, wanted, connect, first_byte) in table {
        let mut t = Tracker::new(shared_subnet.clone(), 8, Duration::from_secs(5));
        let steps = play(&mut t, ALB, &packets);
        let Some((got, timings)) = outcome(&steps) else {
            panic!("{name}: {steps:?}");
        };
        assert_eq!(
            (got, timings.connect, timings.first_byte),
            (wanted, connect, first_byte),
            "{name}"
        );
        assert!(t.is_empty(), "{name}: connection left behind");
    }
}
