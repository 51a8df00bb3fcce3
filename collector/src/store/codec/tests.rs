use super::*;
use crate::store::synthetic;

#[test]
fn every_reason_decodes_from_its_code_and_status() {
    let reasons = [
        Reason::ProbeTimeout,
        Reason::HostUnreachable,
        Reason::ConnectionRefused,
        Reason::ConnectionReset,
        Reason::ConnectionClosed,
        Reason::TlsHandshakeFailed,
        Reason::MalformedResponse,
        Reason::HttpStatus(503),
        Reason::GrpcStatus(14),
        Reason::AwaitingFirstSuccess,
        Reason::ElbRegistrationInProgress,
        Reason::ElbInitialHealthChecking,
        Reason::TargetResponseCodeMismatch(404),
        Reason::TargetTimeout,
        Reason::TargetFailedHealthChecks,
        Reason::TargetDeregistrationInProgress,
        Reason::TargetNotRegistered,
        Reason::TargetHealthCheckDisabled,
        Reason::InstanceRegistrationInProgress,
        Reason::InstanceFailedHealthChecks,
        Reason::InstanceDeregistrationInProgress,
        Reason::InstanceNotRegistered,
    ];
    assert_eq!(reasons.len(), Reason::CODES.len());
    for r in reasons {
        assert_eq!(reason(r.code(), r.status()), Ok(r));
    }
}

#[test]
fn reasons_that_need_a_status_and_unknown_codes_are_errors_naming_the_value() {
    let err = reason("HttpStatus", None).unwrap_err();
    assert_eq!(err.field, "reason_status");
    let err = reason("Target.Bogus", None).unwrap_err();
    assert_eq!((err.field, err.value.as_str()), ("reason", "Target.Bogus"));
}

#[test]
fn every_state_hop_and_lifecycle_kind_decodes_from_its_name() {
    for s in LbState::ALL {
        assert_eq!(lb_state(s.as_str()), Ok(s));
    }
    for h in Hop::ALL {
        assert_eq!(hop(h.as_str()), Ok(h));
    }
    for k in LifecycleKind::ALL {
        assert_eq!(lifecycle_kind(k.as_str()), Ok(k));
    }
    assert_eq!(lb_state("sideways").unwrap_err().value, "sideways");
}

#[test]
fn backend_keys_and_specs_survive_the_json_round_trip() {
    let backend = synthetic::backend(7, "web", "node-1", 3);
    let key = KeyJson::from_key(&backend.key);
    let text = to_json(&key);
    let back: KeyJson = from_json("key", &text).unwrap();
    assert_eq!(back.to_key().unwrap(), backend.key);

    let spec = synthetic::alb_spec("200-299");
    let json = SpecJson::from_spec(&spec);
    let back: SpecJson = from_json("spec", &to_json(&json)).unwrap();
    assert_eq!(back.to_spec().unwrap(), spec);
    let azure = synthetic::azure_spec();
    assert_eq!(SpecJson::from_spec(&azure).to_spec().unwrap(), azure);
}

#[test]
fn times_round_trip_through_milliseconds_on_both_sides_of_the_epoch() {
    for value in [0, 1, 1_700_000_000_123, -5_000] {
        assert_eq!(ms(from_ms(value)), value);
    }
}

#[test]
fn object_refs_need_kind_namespace_and_name() {
    assert_eq!(
        object_ref("service", "Service/default/web").unwrap(),
        ObjectRef::new("Service", "default", "web")
    );
    assert!(object_ref("service", "web").is_err());
}
