//! Every audit sample in `events/` parses to the trigger its file name says; every rotation
//! sample is refused by the audit with `Audit.InvalidEvent`.

use aws_key_rotation::audit::events::{
    parse_trigger, IamUserRef, Trigger, IAM_CALLS, KMS_CALLS, KMS_NATIVE_EVENTS,
};
use serde_json::Value;
use std::path::Path;

fn samples() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("events/ is readable")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("readable");
            (
                name.clone(),
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_audit_sample_parses_to_what_its_name_says() {
    let samples = samples();
    let mut kms_calls = Vec::new();
    let mut iam_calls = Vec::new();
    let mut native = Vec::new();
    let mut schedules = 0;
    for (name, event) in samples.iter().filter(|(n, _)| n.starts_with("audit-")) {
        let trigger = parse_trigger(event).unwrap_or_else(|e| panic!("{name}: {e}"));
        match &trigger {
            Trigger::Full => {
                assert!(name.contains("schedule"), "{name}");
                schedules += 1;
            }
            Trigger::KmsKeys {
                cause,
                keys,
                account,
            } => {
                assert!(!keys.is_empty(), "{name}");
                assert!(
                    keys.iter().all(|k| !k.key.is_empty() && k.region.is_some()),
                    "{name}: {keys:?}"
                );
                assert!(account.is_some(), "{name}");
                match cause.strip_prefix("kms:") {
                    Some(call) => {
                        assert!(name.contains(call), "{name} parsed as {cause}");
                        kms_calls.push(call.to_owned());
                    }
                    None => native.push(cause.clone()),
                }
            }
            Trigger::IamUser { cause, user, .. } => {
                let call = cause.strip_prefix("iam:").expect("an IAM call");
                assert!(name.contains(call), "{name} parsed as {cause}");
                assert!(
                    matches!(user, IamUserRef::Named(u) if !u.is_empty()),
                    "{name}: {user:?}"
                );
                iam_calls.push(call.to_owned());
            }
            Trigger::Nothing { .. } => panic!("{name}: a sample that audits nothing"),
        }
    }
    // One sample per trigger the contract names.
    assert_eq!(schedules, 1);
    kms_calls.sort();
    let mut expected: Vec<String> = KMS_CALLS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(kms_calls, expected);
    iam_calls.sort();
    let mut expected: Vec<String> = IAM_CALLS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(iam_calls, expected);
    native.sort();
    let mut expected: Vec<String> = KMS_NATIVE_EVENTS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(native, expected);
}

#[test]
fn rotation_samples_are_not_audit_events() {
    let rotation: Vec<_> = samples()
        .into_iter()
        .filter(|(n, _)| n.starts_with("rotation-"))
        .collect();
    assert!(!rotation.is_empty());
    for (name, event) in rotation {
        assert!(
            parse_trigger(&event).is_err(),
            "{name} was taken for an audit event"
        );
    }
}
