//! The members' events the Organization's bus forwards to the event queue
//! (`AUDIT_EVENT_QUEUE_ARN`), delivered in SQS batches: each key or user audited once per
//! batch, one membership check and one AssumeRole per account, a bad record refused alone
//! (an ERROR finding, never its body), a batch of which nothing can be audited returned as an
//! error (so that SQS retries it, then dead-letters it). Also the coverage gaps of a full
//! audit: the Organization's management account the member role does not reach, and the own
//! account with `AUDIT_ROLE_ARNS` alone.

use crate::common::audit::{cloudtrail_event, config};
use crate::common::*;
use crate::support::audit::*;
use crate::support::*;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::audit::verdict::Verdict;
use aws_key_rotation::audit::Auditor;
use aws_sdk_organizations::operation::describe_account::DescribeAccountOutput;
use aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput;
use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
use aws_sdk_organizations::types::{Account as OrgAccount, AccountState, Organization};
use aws_smithy_mocks::{mock, Rule};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const ROLE: &str = "KeyRotationAudit";
const MEMBER: &str = "111111111111";
const EVENT_QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:key-rotation-audit-events";
const FANOUT_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/key-rotation-fanout";
const FANOUT_QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:key-rotation-fanout";

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/{ROLE}")
}

fn active(id: &str) -> OrgAccount {
    OrgAccount::builder()
        .id(id)
        .state(AccountState::Active)
        .build()
}

/// An SQS batch: (queue ARN, body) per record.
fn batch(records: &[(&str, String)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (queue, body))| {
            json!({"messageId": format!("0000000{i}-aaaa-bbbb-cccc-dddddddddddd"),
                   "receiptHandle": "h", "body": body, "attributes": {}, "messageAttributes": {},
                   "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": queue,
                   "awsRegion": "us-east-1"})
        })
        .collect();
    json!({ "Records": records })
}

fn kms_call(account: &str, call: &str, key: &str) -> String {
    cloudtrail_event(
        "aws.kms",
        call,
        "us-east-1",
        account,
        json!({ "keyId": key }),
        Value::Null,
    )
    .to_string()
}

fn iam_call(account: &str, call: &str, user: &str) -> String {
    cloudtrail_event(
        "aws.iam",
        call,
        "us-east-1",
        account,
        json!({ "userName": user }),
        Value::Null,
    )
    .to_string()
}

/// Organizations' DescribeOrganization: `id` is the management account.
fn management_is(id: &'static str) -> Rule {
    mock!(aws_sdk_organizations::Client::describe_organization).then_output(move || {
        DescribeOrganizationOutput::builder()
            .organization(Organization::builder().master_account_id(id).build())
            .build()
    })
}

/// STS: the function's identity; AssumeRole works for every role but `denied`; every role
/// asked for is recorded.
fn sts(asked: &Arc<Mutex<Vec<String>>>, denied: Option<String>) -> Vec<Rule> {
    crate::support::audit::sts_recording(asked, denied)
}

/// An auditor of us-east-1 where every account has the rotation-off key `k1` and the user
/// `alice` without keys.
fn batch_auditor(cfg: &[(&str, &str)], sts_rules: &[Rule]) -> Auditor {
    let mut region = kms_only(rotation_off_key("k1"));
    region
        .iam
        .push(list_access_keys_rule(Some("alice"), Vec::new()));
    let (auditor, _) = crate::support::audit::auditor(
        config(cfg),
        vec![("us-east-1", region)],
        sts_rules.to_vec(),
        NOW,
    );
    auditor
}

fn event_queue_config() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AUDIT_ORG_ROLE_NAME", ROLE),
        ("AUDIT_EVENT_QUEUE_ARN", EVENT_QUEUE),
        ("AUDIT_FANOUT_QUEUE_URL", FANOUT_URL),
    ]
}

fn refused(report: &Report) -> Vec<&Finding> {
    report
        .findings_of(Kind::Scope)
        .filter(|f| f.resource.starts_with("sqs-message/"))
        .collect()
}

#[tokio::test]
async fn a_burst_of_events_for_one_key_and_one_user_is_audited_once_with_one_assume_role() {
    let asked = Arc::default();
    let described = mock!(aws_sdk_organizations::Client::describe_account)
        .match_requests(|r| r.account_id() == Some(MEMBER))
        .then_output(|| {
            DescribeAccountOutput::builder()
                .account(active(MEMBER))
                .build()
        });
    let listing = mock!(aws_sdk_organizations::Client::list_accounts)
        .then_output(|| ListAccountsOutput::builder().build());
    let auditor = batch_auditor(&event_queue_config(), &sts(&asked, None)).with_organizations(
        mock_client!(aws_sdk_organizations, "us-east-1", [&described, &listing]),
    );
    let key_arn = format!("arn:aws:kms:us-east-1:{MEMBER}:key/k1");
    let mut records: Vec<(&str, String)> = Vec::new();
    // Twelve events for k1 (by id, key/ id and ARN), eight for alice in two spellings.
    for i in 0..12 {
        let key = match i % 3 {
            0 => "k1".to_owned(),
            1 => "key/k1".to_owned(),
            _ => key_arn.clone(),
        };
        let call = ["DisableKeyRotation", "EnableKeyRotation"][i % 2];
        records.push((EVENT_QUEUE, kms_call(MEMBER, call, &key)));
    }
    for i in 0..8 {
        let user = ["alice", "ALICE"][i % 2];
        records.push((EVENT_QUEUE, iam_call(MEMBER, "CreateAccessKey", user)));
    }
    let report = auditor.handle(batch(&records)).await.unwrap();

    assert_eq!(described.num_calls(), 1, "one membership check per account");
    assert_eq!(
        listing.num_calls(),
        0,
        "an event batch never lists the Organization"
    );
    assert_eq!(*asked.lock().unwrap(), [role(MEMBER)], "one AssumeRole");
    let f = key_finding(&report, "k1");
    assert_eq!(f.account.as_deref(), Some(MEMBER));
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(report.stats.aws_calls.get("kms:DescribeKey"), Some(&1));
    assert_eq!(report.stats.aws_calls.get("iam:ListAccessKeys"), Some(&1));
    let counts = report.events.expect("the batch's counts");
    assert_eq!(
        (
            counts.received,
            counts.audited,
            counts.duplicates,
            counts.refused
        ),
        (20, 2, 18, 0)
    );
    assert_eq!(report.trigger, "events (20 received, 2 audited)");
    assert_eq!(report.summary.error, 0, "{:#?}", report.findings);
    assert_eq!(report.accounts, [MEMBER]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["events"]["duplicates"], 18);
}

#[tokio::test]
async fn records_from_another_queue_or_of_the_wrong_kind_are_refused_alone_without_their_body() {
    let asked = Arc::default();
    let auditor = batch_auditor(&event_queue_config(), &sts(&asked, None));
    let secret_text = "do-not-echo-this-body";
    let fan_out = json!({ "audit_account": MEMBER }).to_string();
    let schedule = scheduled().to_string();
    let records = [
        // The own account's event: audited (no membership check, no AssumeRole).
        (EVENT_QUEUE, kms_call(ACCOUNT, "DisableKeyRotation", "k1")),
        (
            "arn:aws:sqs:us-east-1:999999999999:elsewhere",
            kms_call(ACCOUNT, "DisableKeyRotation", "k1"),
        ),
        (EVENT_QUEUE, fan_out.clone()),
        (EVENT_QUEUE, schedule),
        (EVENT_QUEUE, format!("not json {secret_text}")),
        (EVENT_QUEUE, json!({ "note": secret_text }).to_string()),
        (FANOUT_QUEUE, fan_out),
    ];
    let report = auditor.handle(batch(&records)).await.unwrap();

    assert!(asked.lock().unwrap().is_empty(), "no role assumed");
    assert_eq!(key_finding(&report, "k1").account.as_deref(), Some(ACCOUNT));
    let refused = refused(&report);
    assert_eq!(refused.len(), 6, "{refused:#?}");
    assert!(refused.iter().all(|f| f.verdict == Verdict::Error));
    let text = format!("{report:?}");
    assert!(!text.contains(secret_text));
    assert!(refused[1].reason.contains("never starts a full audit"));
    let counts = report.events.unwrap();
    assert_eq!((counts.received, counts.audited, counts.refused), (7, 1, 6));
    // Never a full audit from the event queue: the only key audited is the named one, once,
    // and no user was listed.
    assert_eq!(report.stats.aws_calls.get("iam:ListUsers"), None);
}

#[tokio::test]
async fn a_batch_of_which_nothing_can_be_audited_is_an_error_so_that_sqs_retries_it() {
    let asked = Arc::default();
    let auditor = batch_auditor(&event_queue_config(), &sts(&asked, None));
    let other = "arn:aws:sqs:us-east-1:123456789012:another-queue";
    let err = auditor
        .handle(batch(&[
            (other, kms_call(ACCOUNT, "DisableKeyRotation", "k1")),
            (EVENT_QUEUE, json!({ "audit_account": MEMBER }).to_string()),
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Audit.NothingAudited");
    assert!(asked.lock().unwrap().is_empty());
}

/// A batch whose only account refuses the audit's role (AccessDenied) is reported, not
/// retried: another delivery would be refused the same way, and three of them would hold the
/// event dead-letter alarm for whoever runs that account.
#[tokio::test]
async fn a_batch_whose_only_account_refuses_the_role_is_reported_not_retried() {
    let asked = Arc::default();
    let described = mock!(aws_sdk_organizations::Client::describe_account)
        .match_requests(|r| r.account_id() == Some(MEMBER))
        .then_output(|| {
            DescribeAccountOutput::builder()
                .account(active(MEMBER))
                .build()
        });
    let organization = management_is("999999999999");
    let auditor = batch_auditor(&event_queue_config(), &sts(&asked, Some(role(MEMBER))))
        .with_organizations(mock_client!(
            aws_sdk_organizations,
            "us-east-1",
            [&described, &organization]
        ));
    let report = auditor
        .handle(batch(&[(
            EVENT_QUEUE,
            kms_call(MEMBER, "DisableKeyRotation", "k1"),
        )]))
        .await
        .expect("a refused role is a finding, not a retry");
    assert_eq!(*asked.lock().unwrap(), [role(MEMBER)]);
    assert!(report.accounts.is_empty());
    assert_eq!(report.summary.error, 1, "{:#?}", report.findings);
}

#[tokio::test]
async fn fan_out_messages_still_audit_their_account_in_full() {
    let asked = Arc::default();
    let described = mock!(aws_sdk_organizations::Client::describe_account).then_output(|| {
        DescribeAccountOutput::builder()
            .account(active(MEMBER))
            .build()
    });
    let auditor = batch_auditor(&event_queue_config(), &sts(&asked, None)).with_organizations(
        mock_client!(aws_sdk_organizations, "us-east-1", [&described]),
    );
    let body = json!({ "audit_account": MEMBER }).to_string();
    let report = auditor
        .handle(batch(&[(FANOUT_QUEUE, body)]))
        .await
        .unwrap();
    assert_eq!(report.trigger, format!("fan-out ({MEMBER})"));
    assert!(report.events.is_none());
    assert_eq!(*asked.lock().unwrap(), [role(MEMBER)]);
    // An event on the fan-out queue is refused, as before.
    let event = kms_call(MEMBER, "DisableKeyRotation", "k1");
    assert!(auditor
        .handle(batch(&[(FANOUT_QUEUE, event)]))
        .await
        .is_err());
}

#[tokio::test]
async fn the_management_account_the_member_role_does_not_reach_is_one_non_compliant_finding() {
    const MANAGEMENT: &str = "999999999999";
    let asked = Arc::default();
    let listing = mock!(aws_sdk_organizations::Client::list_accounts).then_output(|| {
        ListAccountsOutput::builder()
            .accounts(active(ACCOUNT))
            .accounts(active(MEMBER))
            .accounts(active(MANAGEMENT))
            .build()
    });
    let organization = management_is(MANAGEMENT);
    let cfg = [("AUDIT_ORG_ROLE_NAME", ROLE)];
    let auditor =
        batch_auditor(&cfg, &sts(&asked, Some(role(MANAGEMENT)))).with_organizations(mock_client!(
            aws_sdk_organizations,
            "us-east-1",
            [&listing, &organization]
        ));
    let report = auditor.handle(scheduled()).await.unwrap();

    assert_eq!(report.summary.error, 0, "{:#?}", report.findings);
    let scope: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(scope.len(), 1, "{scope:#?}");
    let f = scope[0];
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(f.account.as_deref(), Some(MANAGEMENT));
    assert_eq!(
        f.resource,
        format!("{MANAGEMENT}/management-account-not-covered")
    );
    assert!(f.region.is_none());
    for words in [
        "management account 999999999999 is not audited",
        "StackSets do not deploy to the management account",
        "member-roles.yaml",
        "member-events.yaml",
    ] {
        assert!(f.reason.contains(words), "{words}: {}", f.reason);
    }
    assert!(!f.remediable());
    assert_eq!(organization.num_calls(), 1);
    // The other accounts are audited.
    assert_eq!(report.accounts.len(), 2, "{:?}", report.accounts);
}

#[tokio::test]
async fn a_refused_role_in_a_member_that_is_not_the_management_account_stays_an_error() {
    let asked = Arc::default();
    let listing = mock!(aws_sdk_organizations::Client::list_accounts).then_output(|| {
        ListAccountsOutput::builder()
            .accounts(active(ACCOUNT))
            .accounts(active(MEMBER))
            .build()
    });
    // The function runs in the management account itself.
    let organization = management_is(ACCOUNT);
    let cfg = [("AUDIT_ORG_ROLE_NAME", ROLE)];
    let auditor =
        batch_auditor(&cfg, &sts(&asked, Some(role(MEMBER)))).with_organizations(mock_client!(
            aws_sdk_organizations,
            "us-east-1",
            [&listing, &organization]
        ));
    let report = auditor.handle(scheduled()).await.unwrap();
    let scope: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(scope.len(), 1, "{scope:#?}");
    assert_eq!(scope[0].verdict, Verdict::Error);
    assert_eq!(scope[0].resource, role(MEMBER));
}

#[tokio::test]
async fn audit_role_arns_without_the_own_account_say_so_in_the_report() {
    let asked = Arc::default();
    let member = role(MEMBER);
    let auditor = batch_auditor(&[("AUDIT_ROLE_ARNS", &member)], &sts(&asked, None));
    let report = auditor.handle(scheduled()).await.unwrap();

    assert_eq!(report.accounts, [MEMBER]);
    let scope: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(scope.len(), 1, "{scope:#?}");
    assert_eq!(scope[0].verdict, Verdict::NotApplicable);
    assert_eq!(scope[0].account.as_deref(), Some(ACCOUNT));
    assert!(
        scope[0]
            .reason
            .contains("the function's own account 123456789012 is not audited"),
        "{}",
        scope[0].reason
    );
    assert!(scope[0]
        .reason
        .contains("add a role of this account to AUDIT_ROLE_ARNS"));

    // With a role of the own account in the list, it is audited and nothing is said.
    let both = format!("{member},{}", role(ACCOUNT));
    let asked = Arc::default();
    let auditor = batch_auditor(&[("AUDIT_ROLE_ARNS", &both)], &sts(&asked, None));
    let report = auditor.handle(scheduled()).await.unwrap();
    assert_eq!(report.findings_of(Kind::Scope).count(), 0);
    assert_eq!(report.accounts.len(), 2);

    // An event names one account: no statement about the own account there.
    let auditor = batch_auditor(&[("AUDIT_ROLE_ARNS", &member)], &sts(&Arc::default(), None));
    let event: Value = serde_json::from_str(&kms_call(MEMBER, "DisableKeyRotation", "k1")).unwrap();
    let report = auditor.handle(event).await.unwrap();
    assert_eq!(report.findings_of(Kind::Scope).count(), 0);
}
