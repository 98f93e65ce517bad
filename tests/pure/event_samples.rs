//! The sample events in `events/`: one per entry point, each in the shape AWS delivers it, each
//! what its file name says.

use aws_key_rotation::audit::events::{IAM_CALLS, KMS_CALLS};
use aws_key_rotation::rotation::event::{Action, ActionEvent, RotationEvent, Step};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The native KMS events, by file name.
const KMS_NATIVE: [(&str, &str); 3] = [
    ("audit-kms-rotation.json", "KMS CMK Rotation"),
    (
        "audit-kms-material-expiration.json",
        "KMS Imported Key Material Expiration",
    ),
    ("audit-kms-deletion.json", "KMS CMK Deletion"),
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn file_names() -> BTreeSet<String> {
    std::fs::read_dir(events_dir())
        .expect("events/ is readable")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Every `events/<prefix>*.json`, by name, parsed.
fn events(prefix: &str) -> Vec<(String, Value)> {
    let list: Vec<(String, Value)> = file_names()
        .into_iter()
        .filter(|name| name.starts_with(prefix) && name.ends_with(".json"))
        .map(|name| {
            let text = std::fs::read_to_string(events_dir().join(&name)).expect("readable");
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            (name, value)
        })
        .collect();
    assert!(!list.is_empty(), "no events/{prefix}*.json");
    list
}

fn str_at<'a>(name: &str, event: &'a Value, pointer: &str) -> &'a str {
    match event.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => s,
        other => panic!("{name}: {pointer} should be a non-empty string, is {other:?}"),
    }
}

fn is_timestamp(s: &str) -> bool {
    // 2026-11-23T09:12:05Z, as EventBridge writes `time` and CloudTrail `eventTime`.
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn rotation_events_parse_with_the_step_their_name_says() {
    for (name, value) in events("rotation-") {
        if name.starts_with("rotation-action-") {
            continue;
        }
        let event = RotationEvent::parse(&value).unwrap_or_else(|e| panic!("{name}: {e}"));
        let stem = name
            .trim_start_matches("rotation-")
            .trim_end_matches(".json");
        match Step::parse(stem) {
            Some(step) => {
                assert_eq!(event.step, step, "{name}");
                assert!(
                    event.rotation_token.is_none(),
                    "{name}: only the cross-account event has a RotationToken"
                );
            }
            None => {
                assert_eq!(
                    stem, "cross-account",
                    "{name}: a rotation event is named after its step"
                );
                assert!(
                    event.rotation_token.is_some(),
                    "{name}: a cross-account event carries a RotationToken"
                );
            }
        }
        assert!(
            event
                .secret_id
                .starts_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:"),
            "{name}: SecretId {}",
            event.secret_id
        );
        assert_eq!(
            event.token.len(),
            36,
            "{name}: ClientRequestToken is a UUID"
        );
    }
}

#[test]
fn audit_events_have_the_eventbridge_envelope() {
    for (name, event) in events("audit-")
        .into_iter()
        .filter(|(n, _)| !n.contains("fanout"))
    {
        assert_eq!(event["version"], "0", "{name}: version");
        str_at(&name, &event, "/id");
        let detail_type = str_at(&name, &event, "/detail-type");
        let source = str_at(&name, &event, "/source");
        assert_eq!(
            str_at(&name, &event, "/account"),
            "123456789012",
            "{name}: account"
        );
        assert_eq!(
            str_at(&name, &event, "/region"),
            "us-east-1",
            "{name}: region"
        );
        assert!(is_timestamp(str_at(&name, &event, "/time")), "{name}: time");
        assert!(
            event["resources"].is_array(),
            "{name}: resources is an array"
        );
        assert!(event["detail"].is_object(), "{name}: detail is an object");

        if name == "audit-schedule.json" {
            assert_eq!(
                (detail_type, source),
                ("Scheduled Event", "aws.events"),
                "{name}"
            );
            assert_eq!(
                event["detail"],
                serde_json::json!({}),
                "{name}: a scheduled event's detail is empty"
            );
            assert_eq!(
                event["resources"].as_array().map(Vec::len),
                Some(1),
                "{name}: names its rule"
            );
        } else if let Some(rest) = name.strip_prefix("audit-cloudtrail-") {
            let (service, call) = rest
                .trim_end_matches(".json")
                .split_once('-')
                .expect("audit-cloudtrail-<service>-<call>");
            assert_eq!(detail_type, "AWS API Call via CloudTrail", "{name}");
            assert_eq!(source, format!("aws.{service}"), "{name}");
            assert_eq!(
                str_at(&name, &event, "/detail/eventSource"),
                format!("{service}.amazonaws.com"),
                "{name}"
            );
            assert_eq!(str_at(&name, &event, "/detail/eventName"), call, "{name}");
            assert_eq!(
                str_at(&name, &event, "/detail/eventType"),
                "AwsApiCall",
                "{name}"
            );
            assert!(
                is_timestamp(str_at(&name, &event, "/detail/eventTime")),
                "{name}: eventTime"
            );
            assert_eq!(
                str_at(&name, &event, "/detail/recipientAccountId"),
                "123456789012",
                "{name}"
            );
            assert!(
                event["detail"]["requestParameters"].is_object(),
                "{name}: requestParameters"
            );
            assert!(
                event["detail"].get("errorCode").is_none(),
                "{name}: a successful call"
            );
        } else {
            let (_, expected) = KMS_NATIVE
                .iter()
                .find(|(file, _)| *file == name)
                .unwrap_or_else(|| panic!("{name}: not a known audit event"));
            assert_eq!((detail_type, source), (*expected, "aws.kms"), "{name}");
            let key_id = str_at(&name, &event, "/detail/key-id");
            let resource = str_at(&name, &event, "/resources/0");
            assert!(
                resource.starts_with("arn:aws:kms:us-east-1:123456789012:key/")
                    && resource.ends_with(key_id),
                "{name}: resources[0] is the ARN of detail.key-id"
            );
        }
    }
}

#[test]
fn cloudtrail_events_carry_the_fields_that_name_the_resource() {
    let required: &[(&str, &[&str])] = &[
        (
            "kms-CreateKey",
            &[
                "/detail/responseElements/keyMetadata/keyId",
                "/detail/responseElements/keyMetadata/arn",
            ],
        ),
        (
            "kms-EnableKeyRotation",
            &["/detail/requestParameters/keyId"],
        ),
        (
            "kms-DisableKeyRotation",
            &["/detail/requestParameters/keyId"],
        ),
        (
            "kms-ImportKeyMaterial",
            &["/detail/requestParameters/keyId"],
        ),
        (
            "kms-DeleteImportedKeyMaterial",
            &["/detail/requestParameters/keyId"],
        ),
        (
            "kms-ScheduleKeyDeletion",
            &["/detail/requestParameters/keyId"],
        ),
        (
            "kms-CancelKeyDeletion",
            &["/detail/requestParameters/keyId"],
        ),
        (
            "kms-ReplicateKey",
            &[
                "/detail/requestParameters/keyId",
                "/detail/requestParameters/replicaRegion",
            ],
        ),
        (
            "kms-UpdatePrimaryRegion",
            &[
                "/detail/requestParameters/keyId",
                "/detail/requestParameters/primaryRegion",
            ],
        ),
        (
            "kms-RotateKeyOnDemand",
            &["/detail/requestParameters/keyId"],
        ),
        (
            "iam-CreateAccessKey",
            &[
                "/detail/requestParameters/userName",
                "/detail/responseElements/accessKey/accessKeyId",
            ],
        ),
        (
            "iam-UpdateAccessKey",
            &[
                "/detail/requestParameters/userName",
                "/detail/requestParameters/accessKeyId",
            ],
        ),
        (
            "iam-DeleteAccessKey",
            &[
                "/detail/requestParameters/userName",
                "/detail/requestParameters/accessKeyId",
            ],
        ),
    ];
    let all = events("audit-cloudtrail-");
    assert_eq!(all.len(), required.len(), "one CloudTrail event per call");
    for (kind, pointers) in required {
        let name = format!("audit-cloudtrail-{kind}.json");
        let (_, event) = all
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is missing"));
        for pointer in *pointers {
            str_at(&name, event, pointer);
        }
    }
    // A key named by ARN must work as well as a bare key id.
    let (_, enable) = all
        .iter()
        .find(|(n, _)| n == "audit-cloudtrail-kms-EnableKeyRotation.json")
        .unwrap();
    assert!(str_at(
        "EnableKeyRotation",
        enable,
        "/detail/requestParameters/keyId"
    )
    .starts_with("arn:aws:kms:"));
}

#[test]
fn operator_action_events_parse_with_the_action_their_name_says() {
    let actions = events("rotation-action-");
    assert_eq!(actions.len(), Action::ALL.len());
    for (name, value) in actions {
        let parsed = ActionEvent::parse(&value)
            .unwrap_or_else(|| panic!("{name} is not an action"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            name,
            format!("rotation-action-{}.json", parsed.action),
            "{name}"
        );
        assert!(parsed.secret_id.starts_with("arn:aws:secretsmanager:"));
    }
}

#[test]
fn events_folder_has_one_file_per_entry_point() {
    let names = file_names();
    let mut expected: Vec<String> = Step::ALL
        .iter()
        .map(|s| format!("rotation-{s}.json"))
        .collect();
    expected.push("rotation-cross-account.json".into());
    expected.extend(
        Action::ALL
            .iter()
            .map(|a| format!("rotation-action-{a}.json")),
    );
    expected.push("audit-schedule.json".into());
    expected.push("audit-fanout-sqs.json".into());
    expected.push("root-keys-account.json".into());
    expected.extend(
        KMS_CALLS
            .iter()
            .map(|c| format!("audit-cloudtrail-kms-{c}.json")),
    );
    expected.extend(
        IAM_CALLS
            .iter()
            .map(|c| format!("audit-cloudtrail-iam-{c}.json")),
    );
    expected.extend(KMS_NATIVE.iter().map(|(file, _)| file.to_string()));
    let missing: Vec<&String> = expected.iter().filter(|n| !names.contains(*n)).collect();
    assert!(missing.is_empty(), "missing from events/: {missing:?}");
    let unexpected: Vec<&String> = names.iter().filter(|n| !expected.contains(n)).collect();
    assert!(
        unexpected.is_empty(),
        "events/ has files no test knows: {unexpected:?}"
    );
}

/// The fan-out sample is what Lambda delivers from SQS: one record from aws:sqs whose body
/// names one account.
#[test]
fn the_fan_out_sample_has_the_sqs_envelope() {
    let (name, event) = events("audit-fanout")
        .into_iter()
        .next()
        .expect("events/audit-fanout-sqs.json");
    let records = event["Records"].as_array().expect("Records");
    assert_eq!(records.len(), 1, "{name}");
    let r = &records[0];
    assert_eq!(r["eventSource"], "aws:sqs", "{name}");
    str_at(&name, r, "/messageId");
    str_at(&name, r, "/receiptHandle");
    assert!(
        str_at(&name, r, "/eventSourceARN").starts_with("arn:aws:sqs:us-east-1:123456789012:"),
        "{name}"
    );
    let body: serde_json::Value = serde_json::from_str(str_at(&name, r, "/body")).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"audit_account": "111111111111"}),
        "{name}"
    );
}

/// remove-root-keys takes the audit's schedule fixture (a full run) and its own one-account
/// event.
#[test]
fn the_root_keys_function_takes_the_schedule_and_its_account_event() {
    use aws_key_rotation::root_keys::plan::{scope_of, Scope};
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(events_dir().join(name)).unwrap()).unwrap()
    };
    assert_eq!(
        scope_of(&read("audit-schedule.json")),
        Ok(Scope::Organization)
    );
    assert_eq!(
        scope_of(&read("root-keys-account.json")),
        Ok(Scope::Account("111122223333".into()))
    );
}
