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
    let mut fan_outs = 0;
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
            Trigger::Accounts { accounts } => {
                assert!(name.contains("fanout"), "{name}");
                assert_eq!(accounts, &["111111111111"], "{name}");
                fan_outs += 1;
            }
            Trigger::Nothing { .. } => panic!("{name}: a sample that audits nothing"),
            Trigger::Events(_) => panic!("{name}: an event batch without an event queue"),
        }
    }
    // One sample per trigger the contract names.
    assert_eq!((schedules, fan_outs), (1, 1));
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

/// Each kind of trigger, built by hand: which key, user, account and region it names.
mod parsing {
    use aws_key_rotation::audit::events::*;
    use serde_json::json;
    use serde_json::Value;

    const KEY_ARN: &str =
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn envelope(source: &str, detail_type: &str, detail: Value) -> Value {
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detail_type,
            "source": source, "account": "111122223333", "time": "2026-01-10T16:37:50Z",
            "region": "us-west-2", "resources": [], "detail": detail
        })
    }

    fn cloudtrail(
        source: &str,
        event_source: &str,
        name: &str,
        request: Value,
        response: Value,
    ) -> Value {
        envelope(
            source,
            CLOUDTRAIL_API_CALL,
            json!({
                "eventVersion": "1.08", "eventSource": event_source, "eventName": name,
                "awsRegion": "us-west-2", "recipientAccountId": "111122223333",
                "userIdentity": {"type": "IAMUser", "userName": "carol", "accountId": "111122223333"},
                "requestParameters": request, "responseElements": response, "eventType": "AwsApiCall"
            }),
        )
    }

    #[test]
    fn a_scheduled_event_is_a_full_audit() {
        let e = envelope("aws.events", SCHEDULED_EVENT, json!({}));
        assert_eq!(parse_trigger(&e), Ok(Trigger::Full));
        assert_eq!(Trigger::Full.describe(), "schedule");
    }

    #[test]
    fn every_kms_call_names_its_key_in_the_event_region() {
        for name in KMS_CALLS
            .iter()
            .filter(|n| !["CreateKey", "ReplicateKey", "UpdatePrimaryRegion"].contains(n))
        {
            let e = cloudtrail(
                "aws.kms",
                "kms.amazonaws.com",
                name,
                json!({"keyId": "k-1"}),
                Value::Null,
            );
            assert_eq!(
                parse_trigger(&e),
                Ok(Trigger::KmsKeys {
                    account: Some("111122223333".into()),
                    cause: format!("kms:{name}"),
                    keys: vec![KmsKeyRef {
                        key: "k-1".into(),
                        region: Some("us-west-2".into())
                    }],
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn create_key_takes_the_key_from_the_response_and_an_arn_gives_the_region() {
        let e = cloudtrail(
            "aws.kms",
            "kms.amazonaws.com",
            "CreateKey",
            json!({"keySpec": "SYMMETRIC_DEFAULT"}),
            json!({"keyMetadata": {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "arn": KEY_ARN}}),
        );
        let Ok(Trigger::KmsKeys { keys, .. }) = parse_trigger(&e) else {
            panic!("not a key trigger")
        };
        assert_eq!(
            keys,
            vec![KmsKeyRef {
                key: KEY_ARN.into(),
                region: Some("eu-west-1".into())
            }]
        );
    }

    #[test]
    fn replicate_key_and_update_primary_region_name_both_regions() {
        let e = cloudtrail(
            "aws.kms",
            "kms.amazonaws.com",
            "ReplicateKey",
            json!({"keyId": "mrk-1", "replicaRegion": "ap-southeast-2"}),
            json!({"replicaKeyMetadata": {"arn": "arn:aws:kms:ap-southeast-2:111122223333:key/mrk-1"}}),
        );
        let Ok(Trigger::KmsKeys { keys, .. }) = parse_trigger(&e) else {
            panic!()
        };
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[0],
            KmsKeyRef {
                key: "mrk-1".into(),
                region: Some("us-west-2".into())
            }
        );
        assert_eq!(keys[1].region.as_deref(), Some("ap-southeast-2"));

        let e = cloudtrail(
            "aws.kms",
            "kms.amazonaws.com",
            "UpdatePrimaryRegion",
            json!({"keyId": "arn:aws:kms:us-west-2:111122223333:key/mrk-2", "primaryRegion": "eu-central-1"}),
            Value::Null,
        );
        let Ok(Trigger::KmsKeys { keys, .. }) = parse_trigger(&e) else {
            panic!()
        };
        assert_eq!(
            keys.iter()
                .map(|k| (k.key.as_str(), k.region.as_deref()))
                .collect::<Vec<_>>(),
            vec![
                (
                    "arn:aws:kms:us-west-2:111122223333:key/mrk-2",
                    Some("us-west-2")
                ),
                ("mrk-2", Some("eu-central-1")),
            ]
        );
    }

    #[test]
    fn iam_calls_name_the_user_or_the_caller() {
        for name in IAM_CALLS {
            let e = cloudtrail(
                "aws.iam",
                "iam.amazonaws.com",
                name,
                json!({"userName": "alice"}),
                Value::Null,
            );
            assert_eq!(
                parse_trigger(&e),
                Ok(Trigger::IamUser {
                    account: Some("111122223333".into()),
                    cause: format!("iam:{name}"),
                    user: IamUserRef::Named("alice".into()),
                })
            );
        }
        let own = cloudtrail(
            "aws.iam",
            "iam.amazonaws.com",
            "CreateAccessKey",
            json!({}),
            Value::Null,
        );
        assert!(
            matches!(parse_trigger(&own), Ok(Trigger::IamUser { user: IamUserRef::Named(u), .. }) if u == "carol")
        );
        let mut root = own.clone();
        root["detail"]["userIdentity"] = json!({"type": "Root", "accountId": "111122223333"});
        assert!(matches!(
            parse_trigger(&root),
            Ok(Trigger::IamUser {
                user: IamUserRef::Root,
                ..
            })
        ));
    }

    #[test]
    fn native_kms_events_name_their_key() {
        for dt in KMS_NATIVE_EVENTS {
            let mut e = envelope(
                "aws.kms",
                dt,
                json!({"key-id": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            );
            e["resources"] = json!([KEY_ARN]);
            assert_eq!(
                parse_trigger(&e),
                Ok(Trigger::KmsKeys {
                    account: Some("111122223333".into()),
                    cause: (*dt).to_owned(),
                    keys: vec![KmsKeyRef {
                        key: KEY_ARN.into(),
                        region: Some("eu-west-1".into())
                    }],
                })
            );
        }
        // Without resources, detail.key-id in the envelope's region.
        let e = envelope("aws.kms", "KMS CMK Rotation", json!({"key-id": "k-9"}));
        let Ok(Trigger::KmsKeys { keys, .. }) = parse_trigger(&e) else {
            panic!()
        };
        assert_eq!(
            keys,
            vec![KmsKeyRef {
                key: "k-9".into(),
                region: Some("us-west-2".into())
            }]
        );
    }

    #[test]
    fn a_failed_call_that_names_nothing_is_recognised_but_audits_nothing() {
        let mut e = cloudtrail(
            "aws.kms",
            "kms.amazonaws.com",
            "CreateKey",
            json!({}),
            Value::Null,
        );
        e["detail"]["errorCode"] = json!("AccessDenied");
        assert!(matches!(parse_trigger(&e), Ok(Trigger::Nothing { .. })));
    }

    #[test]
    fn other_events_are_refused_with_a_clear_error() {
        let e = envelope(
            "aws.ec2",
            "EC2 Instance State-change Notification",
            json!({}),
        );
        let err = parse_trigger(&e).unwrap_err();
        assert!(matches!(err, TriggerError::Unsupported { .. }));
        assert!(err.to_string().contains("aws.ec2"), "{err}");

        let e = cloudtrail(
            "aws.kms",
            "kms.amazonaws.com",
            "Decrypt",
            json!({"keyId": "k"}),
            Value::Null,
        );
        let err = parse_trigger(&e).unwrap_err();
        assert!(
            err.to_string().contains("\"Decrypt\"")
                && err.to_string().contains("EnableKeyRotation"),
            "{err}"
        );

        let e = cloudtrail(
            "aws.kms",
            "iam.amazonaws.com",
            "CreateKey",
            json!({}),
            Value::Null,
        );
        assert!(matches!(
            parse_trigger(&e),
            Err(TriggerError::SourceMismatch { .. })
        ));

        let e = cloudtrail(
            "aws.kms",
            "kms.amazonaws.com",
            "EnableKeyRotation",
            json!({}),
            Value::Null,
        );
        assert!(matches!(
            parse_trigger(&e),
            Err(TriggerError::MissingTarget { .. })
        ));

        let e = envelope("aws.kms", "KMS CMK Rotation", json!({}));
        assert!(matches!(
            parse_trigger(&e),
            Err(TriggerError::MissingTarget { .. })
        ));

        // A rotation event is not an audit event, and the error does not echo its values.
        let rotation = json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t"});
        let err = parse_trigger(&rotation).unwrap_err();
        assert!(matches!(err, TriggerError::NotEventBridge(_)));
        assert!(!err.to_string().contains("createSecret"), "{err}");
        assert!(matches!(
            parse_trigger(&json!([1])),
            Err(TriggerError::NotEventBridge(_))
        ));
    }

    fn sqs(bodies: &[(&str, &str)]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .map(|(source, body)| json!({"messageId": "m", "eventSource": source, "body": body}))
            .collect();
        json!({ "Records": records })
    }

    #[test]
    fn fan_out_messages_name_one_account_each_and_nothing_else() {
        let e = sqs(&[
            ("aws:sqs", r#"{"audit_account":"111111111111"}"#),
            ("aws:sqs", r#"{"audit_account":"222222222222"}"#),
            ("aws:sqs", r#"{"audit_account":"111111111111"}"#),
        ]);
        assert_eq!(
            parse_trigger(&e).unwrap(),
            Trigger::Accounts {
                accounts: vec!["111111111111".into(), "222222222222".into()]
            }
        );
        // Anything else in a batch refuses it whole (SQS retries it, then dead-letters it),
        // and the error does not echo the body.
        for (index, bad) in [
            r#"{"audit_account":"11111111111"}"#,
            r#"{"audit_account":"arn:aws:iam::111111111111:role/Admin"}"#,
            r#"{"audit_account":"111111111111","role_arn":"arn:aws:iam::9:role/x"}"#,
            "not json",
        ]
        .iter()
        .enumerate()
        {
            let e = sqs(&[
                ("aws:sqs", r#"{"audit_account":"111111111111"}"#),
                ("aws:sqs", bad),
            ]);
            let err = parse_trigger(&e).unwrap_err();
            assert_eq!(err, TriggerError::NotFanOut { index: 1 }, "{index}");
            assert!(!err.to_string().contains("Admin"), "{err}");
        }
        let mixed = sqs(&[
            ("aws:sqs", r#"{"audit_account":"111111111111"}"#),
            ("aws:sns", r#"{"audit_account":"222222222222"}"#),
        ]);
        assert_eq!(
            parse_trigger(&mixed).unwrap_err(),
            TriggerError::NotFanOut { index: 1 }
        );
        // Records from elsewhere (an SNS or S3 notification) are not fan-out messages at all.
        let from_elsewhere = sqs(&[("aws:sns", r#"{"audit_account":"111111111111"}"#)]);
        assert!(matches!(
            parse_trigger(&from_elsewhere).unwrap_err(),
            TriggerError::NotEventBridge(_)
        ));
    }
}

/// The account an event audit acts on is the one EventBridge recorded in the envelope (which
/// no PutEvents caller or forwarding rule sets), not one the event's content names: on the
/// Organization's bus, a member's forwarded event whose CloudTrail detail names another
/// account must not steer the audit to that account.
#[test]
fn an_event_audits_the_account_eventbridge_recorded_not_the_one_its_detail_names() {
    use serde_json::json;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join("audit-cloudtrail-iam-CreateAccessKey.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["account"] = json!("210987654321");
    event["detail"]["recipientAccountId"] = json!("123456789012");
    match parse_trigger(&event) {
        Err(_) => {}
        Ok(Trigger::IamUser { account, .. }) => {
            assert_eq!(account.as_deref(), Some("210987654321"))
        }
        Ok(other) => panic!("{other:?}"),
    }
}
