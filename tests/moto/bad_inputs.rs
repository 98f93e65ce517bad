//! The bad-input table: each input gets a clear, specific error (its `errorType` and a message
//! naming the cause) and changes nothing in IAM or Secrets Manager (keys and secret versions are
//! compared before and after).

use crate::common::capture::Handled;
use crate::common::env::*;
use crate::common::moto::{admin_credentials, sdk_config_at};
use crate::common::proxy::Proxy;
use crate::common::rotation::*;
use crate::common::*;
use aws_key_rotation::rotation::config::RotationConfig;
use serde_json::{json, Value};

/// How the secret of a case is made.
enum Secret {
    /// A user with one key; the key's `create-access-key` output, with these fields merged in
    /// (`null` removes a field).
    Valid(Value),
    /// This exact SecretString.
    Raw(&'static str),
    /// SecretBinary.
    Binary(&'static [u8]),
}

/// How the event of a case is made from the secret's ARN and the rotation token.
enum Event {
    Step(&'static str),
    /// The event as JSON; `{secret}` and `{token}` are filled in.
    Custom(&'static str),
}

struct Case {
    name: &'static str,
    secret: Secret,
    start_rotation: bool,
    event: Event,
    /// `None`: must succeed (as a no-op).
    error_type: Option<&'static str>,
    needle: &'static str,
}

fn case(
    name: &'static str,
    secret: Secret,
    event: Event,
    error_type: &'static str,
    needle: &'static str,
) -> Case {
    Case {
        name,
        secret,
        start_rotation: true,
        event,
        error_type: Some(error_type),
        needle,
    }
}

fn table() -> Vec<Case> {
    use Event::*;
    use Secret::*;
    let create = Step("createSecret");
    vec![
        case("malformed JSON secret", Raw(r#"{"UserName": "x", "AccessKeyId": "#), Step("createSecret"), "Rotation.InvalidSecret", "not valid JSON"),
        case("secret is a JSON array", Raw(r#"["UserName", "x"]"#), Step("createSecret"), "Rotation.InvalidSecret", "JSON array"),
        case("secret is a JSON string", Raw(r#""AKIA…""#), Step("createSecret"), "Rotation.InvalidSecret", "JSON string"),
        case("missing UserName", Valid(json!({"UserName": null})), Step("createSecret"), "Rotation.InvalidSecret", "\"UserName\""),
        case("empty UserName", Valid(json!({"UserName": " "})), Step("createSecret"), "Rotation.InvalidSecret", "\"UserName\" field is empty"),
        case("UserName not a string", Valid(json!({"UserName": ["alice"]})), Step("createSecret"), "Rotation.InvalidSecret", "must be a string"),
        case("user does not exist", Valid(json!({"UserName": "no-such-user-anywhere"})), Step("createSecret"), "Rotation.UserNotFound", "no-such-user-anywhere"),
        case("binary secret", Binary(b"\x00\xffnot utf-8\xfe"), Step("createSecret"), "Rotation.InvalidSecret", "binary"),
        case("non-UTF-8 bytes as the secret", Binary(&[0xc3, 0x28, 0xa0, 0xa1]), Step("createSecret"), "Rotation.InvalidSecret", "SecretBinary"),
        case("conflicting key id aliases", Valid(json!({"aws_access_key_id": "AKIADIFFERENT0000000"})), Step("createSecret"), "Rotation.InvalidSecret", "aws_access_key_id"),
        case("DeleteAllKeysBeforeRotating not a boolean", Valid(json!({"DeleteAllKeysBeforeRotating": "maybe"})), Step("createSecret"), "Rotation.InvalidSecret", "true or false"),
        case("RoleArn not a role", Valid(json!({"RoleArn": "arn:aws:iam::210987654321:user/rotator"})), Step("createSecret"), "Rotation.AssumeRoleFailed", "not an IAM role ARN"),
        case("unknown step", Valid(json!({})), Step("rotateSecret"), "Rotation.InvalidEvent", "unknown step \"rotateSecret\""),
        case("step in the wrong case", Valid(json!({})), Step("CreateSecret"), "Rotation.InvalidEvent", "unknown step"),
        case("missing token", Valid(json!({})), Custom(r#"{"Step": "createSecret", "SecretId": "{secret}"}"#), "Rotation.InvalidEvent", "ClientRequestToken"),
        case("event is an array", Valid(json!({})), Custom(r#"["createSecret", "{secret}", "{token}"]"#), "Rotation.InvalidEvent", "array"),
        case("SecretId not a string", Valid(json!({})), Custom(r#"{"Step": "createSecret", "SecretId": 42, "ClientRequestToken": "{token}"}"#), "Rotation.InvalidEvent", "SecretId"),
        case("oversized SecretId", Valid(json!({})), Custom(r#"{"Step": "createSecret", "SecretId": "{secret}{huge}", "ClientRequestToken": "{token}"}"#), "Rotation.InvalidEvent", "at most 2048"),
        case("token not a version", Valid(json!({})), Custom(r#"{"Step": "createSecret", "SecretId": "{secret}", "ClientRequestToken": "0badc0de-0000-4000-8000-000000000000"}"#), "Rotation.UnknownVersion", "not a version"),
        case("secret in another account", Valid(json!({})), Custom(r#"{"Step": "createSecret", "SecretId": "arn:aws:secretsmanager:us-east-1:210987654321:secret:elsewhere-AbCdEf", "ClientRequestToken": "{token}"}"#), "Rotation.SecretNotFound", "ResourceNotFoundException"),
        case("secret deleted", Valid(json!({"_delete": true})), Step("createSecret"), "Rotation.SecretNotFound", "cannot be read"),
        Case { name: "rotation disabled", secret: Valid(json!({})), start_rotation: false, event: Custom(r#"{"Step": "createSecret", "SecretId": "{secret}", "ClientRequestToken": "{current}"}"#), error_type: Some("Rotation.RotationDisabled"), needle: "not enabled" },
        case("two live keys, neither known", Valid(json!({"AccessKeyId": "AKIAUNKNOWN000000000", "_extra_keys": 1})), Step("createSecret"), "Rotation.UnmanagedKey", "not known to the secret"),
        case("setSecret before createSecret", Valid(json!({})), Step("setSecret"), "Rotation.PendingValueMissing", "createSecret has not completed"),
        Case { name: "token already AWSCURRENT", secret: Valid(json!({})), start_rotation: true, event: Custom(r#"{"Step": "testSecret", "SecretId": "{secret}", "ClientRequestToken": "{current}"}"#), error_type: None, needle: "" },
        case("finishSecret on a token that is not AWSPENDING", Valid(json!({"_archive": true})), Custom(r#"{"Step": "finishSecret", "SecretId": "{secret}", "ClientRequestToken": "{archive}"}"#), "Rotation.InvalidStage", "ARCHIVE"),
    ]
    .into_iter()
    .chain(std::iter::once(Case { name: "createSecret with an empty RotationToken", secret: Valid(json!({})), start_rotation: true, event: Custom(r#"{"Step": "createSecret", "SecretId": "{secret}", "ClientRequestToken": "{token}", "RotationToken": ""}"#), error_type: Some("Rotation.InvalidEvent"), needle: "RotationToken" }))
    .chain([
        // The hijack: a secret writer aims the rotator at another IAM user.
        case("UserName of an unbound user", Valid(json!({"_victim": "unbound", "DeleteAllKeysBeforeRotating": true})), Step("createSecret"), "Rotation.UserNotBound", "is missing"),
        case("UserName of a user bound to another secret", Valid(json!({"_victim": "bound-elsewhere", "DeleteAllKeysBeforeRotating": true})), Step("createSecret"), "Rotation.UserNotBound", "KeyRotationSecret is \"arn:aws:secretsmanager:"),
        case("RoleArn to an account whose user is unbound", Valid(json!({"_victim": "other-account"})), Step("createSecret"), "Rotation.UserNotBound", "111111111111"),
        case("the binding names the secret by name in another account", Valid(json!({"_victim": "name-across-accounts"})), Step("createSecret"), "Rotation.UserNotBound", "names are no longer accepted"),
    ])
    .chain(std::iter::once(Case { name: "second key of the user unknown", secret: Valid(json!({"_extra_keys": 1})), start_rotation: true, event: create, error_type: Some("Rotation.UnmanagedKey"), needle: "UNMANAGED_KEY_ACTION=delete" }))
    .collect()
}

/// Every SecretAccessKey and error of the table, for the leak check.
static HANDLED: Handled = Handled::new();

const ARCHIVE_TOKEN: &str = "a4c41e00-0000-4000-8000-0000000000aa";

async fn run(h: &Harness, c: &Case) -> Result<(), String> {
    let user = unique("bad");
    h.create_user(h.iam(), &user).await;
    let (_, key_secret, mut doc) = h.create_key(h.iam(), &user).await;
    HANDLED.secret(key_secret);
    let name = unique("bad-input");
    let mut delete = false;
    let mut archive = false;
    let mut victim = None;
    let secret = match &c.secret {
        Secret::Valid(extra) => {
            for (k, v) in extra.as_object().unwrap() {
                match k.as_str() {
                    "_delete" => delete = true,
                    "_archive" => archive = true,
                    "_victim" => victim = v.as_str(),
                    "_extra_keys" => {
                        let (_, extra_secret, _) = h.create_key(h.iam(), &user).await;
                        HANDLED.secret(extra_secret);
                    }
                    _ if v.is_null() => {
                        doc.as_object_mut().unwrap().remove(k);
                    }
                    _ => doc[k] = v.clone(),
                }
            }
            h.create_secret(&name, &doc.to_string()).await
        }
        Secret::Raw(text) => h.create_secret(&name, text).await,
        Secret::Binary(bytes) => h
            .sm()
            .create_secret()
            .name(&name)
            .secret_binary(aws_smithy_types::Blob::new(bytes.to_vec()))
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned(),
    };
    // The user the rotation is aimed at, and the state the case leaves it in.
    let (iam, user) = match victim {
        None => {
            h.bind(h.iam(), &user, &secret).await;
            (h.iam().clone(), user)
        }
        Some(how) => victim_of(h, &secret, how).await,
    };
    let current = h
        .versions(&secret)
        .await
        .into_iter()
        .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
        .unwrap()
        .0;
    let token = if c.start_rotation {
        h.start_rotation(&secret).await
    } else {
        uuid_like()
    };
    if archive {
        h.put_version(&secret, Some(ARCHIVE_TOKEN), "{}", Some("ARCHIVE"))
            .await;
    }
    if delete {
        h.sm()
            .delete_secret()
            .secret_id(&secret)
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
    }
    let event: Value = match &c.event {
        Event::Step(step) => json!({"Step": step, "SecretId": secret, "ClientRequestToken": token}),
        Event::Custom(text) => serde_json::from_str(
            &text
                .replace("{secret}", &secret)
                .replace("{token}", &token)
                .replace("{current}", &current)
                .replace("{archive}", ARCHIVE_TOKEN)
                .replace("{huge}", &"x".repeat(5000)),
        )
        .unwrap(),
    };
    let before = if delete {
        None
    } else {
        Some(h.snapshot(&iam, &user, &secret).await)
    };
    let keys_before = h.keys_of(&iam, &user).await;
    let proxy = Proxy::start(&moto_endpoint()).await;
    let result = h
        .rotator_at(&proxy.url, RotationConfig::default())
        .handle(event, 0)
        .await;
    if let Err(e) = &result {
        HANDLED.error(e);
    }
    let after = if delete {
        None
    } else {
        Some(h.snapshot(&iam, &user, &secret).await)
    };
    if before != after || keys_before != h.keys_of(&iam, &user).await {
        return Err("changed IAM or Secrets Manager".into());
    }
    let writes: Vec<String> = proxy
        .ops()
        .into_iter()
        .filter(|op| IAM_WRITES.contains(&op.as_str()))
        .collect();
    if result.is_err() && !writes.is_empty() {
        return Err(format!("refused, but made IAM writes: {writes:?}"));
    }
    match (result, c.error_type) {
        (Ok(()), None) => Ok(()),
        (Ok(()), Some(want)) => Err(format!("succeeded, expected {want}")),
        (Err(e), None) => Err(format!("failed: {e}")),
        (Err(e), Some(want)) => {
            let msg = e.to_string();
            if e.error_type() != want {
                Err(format!("{} instead of {want}: {msg}", e.error_type()))
            } else if !msg.contains(c.needle) {
                Err(format!("message does not mention {:?}: {msg}", c.needle))
            } else if !msg.contains(" failed for secret ") {
                Err(format!("message does not name the secret: {msg}"))
            } else {
                Ok(())
            }
        }
    }
}

/// What a refused input must never call.
const IAM_WRITES: &[&str] = &[
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:TagUser",
    "iam:UntagUser",
];

/// A user with two keys that the case's secret names, in one of the ways a secret writer could
/// aim the rotator at it: (IAM client of its account, user name).
async fn victim_of(h: &Harness, secret: &str, how: &str) -> (aws_sdk_iam::Client, String) {
    let (iam, in_other_account) = match how {
        "other-account" | "name-across-accounts" => (h.other_account_iam().await, true),
        _ => (h.iam().clone(), false),
    };
    let victim = unique("admin");
    h.create_user(&iam, &victim).await;
    for _ in 0..2 {
        let (_, key_secret, _) = h.create_key(&iam, &victim).await;
        HANDLED.secret(key_secret);
    }
    match how {
        "bound-elsewhere" => {
            let other = h
                .create_secret(
                    &unique("admin-key"),
                    &json!({"UserName": victim}).to_string(),
                )
                .await;
            h.bind(&iam, &victim, &other).await;
        }
        "name-across-accounts" => {
            let name = h.clients.secrets.describe(secret).await.unwrap().name;
            h.bind(&iam, &victim, &name).await;
        }
        _ => {}
    }
    // The writer's edit: the victim's name (and the role to its account) in the secret.
    let mut value = h.current(secret).await;
    value["UserName"] = json!(victim);
    if in_other_account {
        value["RoleArn"] = json!(cross_account_role());
    }
    h.put_version(secret, None, &value.to_string(), None).await;
    (iam, victim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_input_is_refused_clearly_and_changes_nothing() {
    let logs = crate::common::capture::Captured::global();
    let h = Harness::new();
    let cases = table();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for c in &cases {
        match run(&h, c).await {
            Ok(()) => println!(
                "ok   {:<48} {}",
                c.name,
                c.error_type.unwrap_or("no-op success")
            ),
            Err(e) => failures.push(format!("{}: {e}", c.name)),
        }
    }
    HANDLED.assert_no_leak(&logs, &[]);
    println!(
        "bad inputs: {}/{} refused as specified",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Bad audit events: refused with `Audit.InvalidEvent` before any AWS call (a proxy in front
/// of moto counts them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_audit_event_is_refused_before_any_aws_call() {
    use aws_key_rotation::audit::{config::AuditConfig, Auditor};
    let proxy = Proxy::start(&moto_endpoint()).await;
    let auditor = Auditor::new(
        aws_key_rotation::aws::AuditAws::new(&sdk_config_at(
            &proxy.url,
            "us-east-1",
            admin_credentials(),
        )),
        AuditConfig::default(),
    );

    let mutate = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = fixture(name);
        f(&mut v);
        v
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "an S3 notification",
            json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}),
            "not an EventBridge event",
        ),
        (
            "an SQS message that is not a fan-out message",
            json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs",
                                "body": "{\"audit_account\": \"arn:aws:iam::111111111111:role/Admin\"}"}]}),
            "SQS message 0 of the batch is not a fan-out message",
        ),
        (
            "a JSON array",
            json!([fixture("audit-schedule.json")]),
            "not an EventBridge event",
        ),
        ("null", Value::Null, "not an EventBridge event"),
        (
            "an EC2 state change",
            json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {"state": "running"}}),
            "unsupported event",
        ),
        (
            "a KMS call the audit does not handle",
            mutate("audit-cloudtrail-kms-EnableKeyRotation.json", &|v| {
                v["detail"]["eventName"] = json!("CreateAlias")
            }),
            "CreateAlias",
        ),
        (
            "EnableKeyRotation with no key id",
            mutate("audit-cloudtrail-kms-EnableKeyRotation.json", &|v| {
                let d = v["detail"].as_object_mut().unwrap();
                d["requestParameters"]
                    .as_object_mut()
                    .unwrap()
                    .remove("keyId");
                d.remove("responseElements");
                d.remove("resources");
            }),
            "names no",
        ),
        (
            "CreateAccessKey with no user",
            mutate("audit-cloudtrail-iam-CreateAccessKey.json", &|v| {
                v["detail"]["requestParameters"] = json!({});
                v["detail"]["responseElements"] = Value::Null;
            }),
            "names no",
        ),
        (
            "an IAM record sent as aws.kms",
            mutate("audit-cloudtrail-iam-CreateAccessKey.json", &|v| {
                v["source"] = json!("aws.kms")
            }),
            "does not match",
        ),
        (
            "a native KMS rotation event naming no key",
            mutate("audit-kms-rotation.json", &|v| {
                v["resources"] = json!([]);
                v["detail"] = json!({});
            }),
            "names no",
        ),
        (
            "a CloudTrail detail that is a string",
            mutate("audit-cloudtrail-kms-EnableKeyRotation.json", &|v| {
                v["detail"] = json!("EnableKeyRotation")
            }),
            "cannot be read",
        ),
    ];
    let mut failures = Vec::new();
    for (name, event, needle) in &cases {
        match auditor.handle(event.clone()).await {
            Ok(report) => failures.push(format!(
                "{name}: accepted, {} findings",
                report.findings.len()
            )),
            Err(e) if e.error_type() != "Audit.InvalidEvent" => {
                failures.push(format!("{name}: {} {e}", e.error_type()))
            }
            Err(e) if !e.to_string().contains(needle) => {
                failures.push(format!("{name}: message lacks {needle:?}: {e}"))
            }
            Err(_) => println!("ok   {name:<48} Audit.InvalidEvent"),
        }
    }
    assert_eq!(
        proxy.calls(),
        0,
        "bad events reached AWS: {:?}",
        proxy.ops()
    );
    println!(
        "bad audit events: {}/{} refused as specified",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
