//! `remove-root-keys` against aws-smithy-mocks (moto has no AssumeRoot): report-only by default,
//! deletion of exactly the listed root keys of member accounts with `REMEDIATE_ROOT_KEYS=true`,
//! never a root session in the management account or for an account outside the Organization,
//! an account without centralized root access reported, and the root session's secrets kept
//! out of the logs and the report.

use crate::common::*;
use crate::support::audit::sts_rules;
use crate::support::*;
use aws_key_rotation::aws::RootKeysAws;
use aws_key_rotation::root_keys::plan::{KeyOutcome, Status};
use aws_key_rotation::root_keys::{Report, RootKeyRemover, RootKeysConfig};
use aws_sdk_iam::types::StatusType;
use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
use aws_sdk_organizations::types::{Account as OrgAccount, AccountState};
use aws_sdk_sts::operation::assume_root::{AssumeRootError, AssumeRootOutput};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::DateTime;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// The management account (this function's, as `sts_rules` answers) and the members.
const MANAGEMENT: &str = ACCOUNT;
/// Centralized root access on; the root user has two keys.
const MEMBER: &str = "111111111111";
/// Centralized root access off: AssumeRoot is refused.
const NOT_ENABLED: &str = "222222222222";
const SUSPENDED: &str = "333333333333";
/// The task policies a run asks AssumeRoot for: read-only when reporting, delete when remediating.
const AUDIT_POLICY: &str = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials";
const DELETE_POLICY: &str = "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials";
const ROOT_SECRET: &str = "root-session-secret-NEVER-LOGGED";
const ROOT_TOKEN: &str = "root-session-token-NEVER-LOGGED";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:key-rotation";

fn account(id: &str, state: AccountState) -> OrgAccount {
    OrgAccount::builder().id(id).state(state).build()
}

fn organization(members: &[(&'static str, AccountState)]) -> aws_sdk_organizations::Client {
    let members = members.to_vec();
    let rules = vec![
        mock!(aws_sdk_organizations::Client::describe_organization).then_output(|| {
            aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput::builder()
                .organization(
                    aws_sdk_organizations::types::Organization::builder()
                        .master_account_id(MANAGEMENT)
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_organizations::Client::list_accounts).then_output(move || {
            ListAccountsOutput::builder()
                .set_accounts(Some(
                    members.iter().map(|(id, s)| account(id, s.clone())).collect(),
                ))
                .build()
        }),
    ];
    mock_client!(aws_sdk_organizations, "us-east-1", &rules)
}

/// Every AssumeRoot request: (target, task policy ARN, duration).
type Asked = Arc<Mutex<Vec<(String, String, Option<i32>)>>>;
/// Every DeleteAccessKey request: (user name, key id).
type Deleted = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// STS: the function's identity (the management account); AssumeRoot answers a root session
/// for every target but [`NOT_ENABLED`] (AccessDenied) and `failing` (a service error).
fn sts(asked: &Asked, failing: Option<&'static str>) -> aws_sdk_sts::Client {
    let record = asked.clone();
    let mut rules = sts_rules();
    rules.push(
        mock!(aws_sdk_sts::Client::assume_root)
            .match_requests(move |r| {
                let target = r.target_principal().unwrap_or_default().to_owned();
                record.lock().unwrap().push((
                    target.clone(),
                    r.task_policy_arn()
                        .and_then(|p| p.arn())
                        .unwrap_or_default()
                        .to_owned(),
                    r.duration_seconds(),
                ));
                target == NOT_ENABLED
            })
            .then_error(|| {
                AssumeRootError::generic(
                    aws_sdk_sts::error::ErrorMetadata::builder()
                        .code("AccessDenied")
                        .message("centralized root access is not enabled")
                        .build(),
                )
            }),
    );
    if let Some(failing) = failing {
        rules.push(
            mock!(aws_sdk_sts::Client::assume_root)
                .match_requests(move |r| r.target_principal() == Some(failing))
                .then_error(|| {
                    AssumeRootError::generic(
                        aws_sdk_sts::error::ErrorMetadata::builder()
                            .code("RegionDisabledException")
                            .build(),
                    )
                }),
        );
    }
    rules.push(mock!(aws_sdk_sts::Client::assume_root).then_output(root_session));
    mock_client!(aws_sdk_sts, "us-east-1", &rules)
}

/// A root session STS grants.
fn root_session() -> AssumeRootOutput {
    AssumeRootOutput::builder()
        .credentials(
            aws_sdk_sts::types::Credentials::builder()
                .access_key_id("ASIAROOTSESSION")
                .secret_access_key(ROOT_SECRET)
                .session_token(ROOT_TOKEN)
                .expiration(DateTime::from_secs(4_000_000_000))
                .build()
                .unwrap(),
        )
        .build()
}

/// Who signed each IAM request: the access key id of its `Authorization` header, and whether it
/// carried a session token.
#[derive(Debug, Clone, Default)]
struct Signers(Arc<Mutex<Vec<(String, bool)>>>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for Signers {
    fn name(&self) -> &'static str {
        "Signers"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let headers = ctx.request().headers();
        let key = headers
            .get("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let token = headers.get("x-amz-security-token") == Some(ROOT_TOKEN);
        self.0.lock().unwrap().push((key, token));
        Ok(())
    }
}

/// The root user's keys, as ListAccessKeys without a user name lists them in a root session.
fn root_keys() -> Vec<aws_sdk_iam::types::AccessKeyMetadata> {
    let key = |id: &str, status| {
        aws_sdk_iam::types::AccessKeyMetadata::builder()
            .access_key_id(id)
            .status(status)
            .create_date(DateTime::from_secs(1_600_000_000))
            .build()
    };
    vec![
        key("AKIAROOTACTIVE", StatusType::Active),
        key("AKIAROOTINACTIVE", StatusType::Inactive),
    ]
}

struct Fixture {
    remover: RootKeyRemover,
    asked: Asked,
    list: Rule,
    delete: Rule,
    publish: Rule,
    deleted: Deleted,
    emitted: Emitted,
    /// Who signed each IAM request.
    signers: Signers,
    /// Each SNS Publish: topic, subject, message.
    published: Arc<Mutex<Vec<Value>>>,
}

fn fixture(remediate: bool, failing: Option<&'static str>) -> Fixture {
    let asked: Asked = Arc::default();
    let deleted: Deleted = Arc::default();
    let list = mock!(aws_sdk_iam::Client::list_access_keys)
        .match_requests(|r| r.user_name().is_none())
        .then_output(|| {
            aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
                .set_access_key_metadata(Some(root_keys()))
                .build()
                .unwrap()
        });
    let record = deleted.clone();
    let delete = mock!(aws_sdk_iam::Client::delete_access_key)
        .match_requests(move |r| {
            record.lock().unwrap().push((
                r.user_name().map(str::to_owned),
                r.access_key_id().unwrap_or_default().to_owned(),
            ));
            true
        })
        .then_output(|| {
            aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput::builder().build()
        });
    let published: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = published.clone();
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| {
            record.lock().unwrap().push(json!({
                "topic": r.topic_arn(),
                "subject": r.subject(),
                "message": serde_json::from_str::<Value>(r.message().unwrap_or("null")).unwrap(),
            }));
            true
        })
        .then_output(|| aws_sdk_sns::operation::publish::PublishOutput::builder().build());
    let sns = mock_client!(aws_sdk_sns, "us-east-1", [&publish]);
    let signers = Signers::default();
    let iam = mock_client!(aws_sdk_iam, "us-east-1", [&list, &delete]);
    let iam = aws_sdk_iam::Client::from_conf(
        iam.config()
            .to_builder()
            .interceptor(signers.clone())
            .build(),
    );
    let aws = RootKeysAws::from_clients(
        sts(&asked, failing),
        organization(&[
            (MANAGEMENT, AccountState::Active),
            (MEMBER, AccountState::Active),
            (NOT_ENABLED, AccountState::Active),
            (SUSPENDED, AccountState::Suspended),
        ]),
        iam,
        Some(sns.into()),
    );
    let mut config = RootKeysConfig::from_lookup(&|_: &str| None).unwrap();
    config.remediate = remediate;
    config.shared.notify_topic_arn = Some(TOPIC.to_owned());
    let emitted: Emitted = Arc::default();
    let remover = RootKeyRemover::new(aws, config).with_metrics(keep_in(&emitted));
    Fixture {
        remover,
        asked,
        list,
        delete,
        publish,
        deleted,
        emitted,
        signers,
        published,
    }
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "e", "source": "aws.events", "detail-type": "Scheduled Event",
           "account": MANAGEMENT, "time": "2027-01-15T08:00:00Z", "region": "us-east-1",
           "resources": [], "detail": {}})
}

fn finding<'a>(
    report: &'a Report,
    account: &str,
) -> &'a aws_key_rotation::root_keys::AccountFinding {
    report
        .findings
        .iter()
        .find(|f| f.account == account)
        .unwrap_or_else(|| panic!("no finding for {account}: {report:?}"))
}

fn targets(asked: &Asked) -> Vec<String> {
    asked
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _, _)| t.clone())
        .collect()
}

#[tokio::test]
async fn report_only_lists_the_root_keys_of_member_accounts_and_deletes_nothing() {
    let f = fixture(false, None);
    let report = f.remover.handle(scheduled(), "req-1").await.unwrap();

    let member = finding(&report, MEMBER);
    assert_eq!(member.status, Status::RootKeysPresent, "{member:?}");
    let keys: Vec<(&str, &str, KeyOutcome)> = member
        .keys
        .iter()
        .map(|k| (k.key_id.as_str(), k.status.as_str(), k.outcome))
        .collect();
    assert_eq!(
        keys,
        [
            ("AKIAROOTACTIVE", "Active", KeyOutcome::Reported),
            ("AKIAROOTINACTIVE", "Inactive", KeyOutcome::Reported)
        ]
    );
    assert_eq!(
        member.keys[0].created.as_deref(),
        Some("2020-09-13T12:26:40Z")
    );
    // Every root session asked for the read-only task policy: the role of a report-only stack
    // allows no other, so a run that only reports cannot open a session that deletes.
    assert_eq!(
        *f.asked.lock().unwrap(),
        [
            (MEMBER.to_owned(), AUDIT_POLICY.to_owned(), Some(900)),
            (NOT_ENABLED.to_owned(), AUDIT_POLICY.to_owned(), Some(900)),
        ]
    );
    assert_eq!(f.list.num_calls(), 1);
    assert_eq!(f.delete.num_calls(), 0);
    assert_eq!(f.publish.num_calls(), 0);
    assert_eq!(
        (report.keys_found, report.keys_deleted, report.remediate),
        (2, 0, false)
    );
    let doc = f.emitted.lock().unwrap()[0].clone();
    assert_eq!(
        (
            doc["RootKeysFound"].as_u64(),
            doc["RootKeysDeleted"].as_u64()
        ),
        (Some(2), Some(0))
    );
    assert_eq!(doc["Function"], "remove-root-keys");
}

#[tokio::test]
async fn remediation_deletes_exactly_the_listed_keys_of_member_accounts_and_never_opens_the_management_account(
) {
    let f = fixture(true, None);
    let report = f.remover.handle(scheduled(), "req-2").await.unwrap();

    // A root session for each ACTIVE member, with the delete task policy, for 15 minutes; never the
    // management account, never the SUSPENDED account.
    let asked = f.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            (MEMBER.to_owned(), DELETE_POLICY.to_owned(), Some(900)),
            (NOT_ENABLED.to_owned(), DELETE_POLICY.to_owned(), Some(900)),
        ]
    );
    // The keys listed in the root session, deleted in it (no user name: the caller's own keys).
    assert_eq!(
        *f.deleted.lock().unwrap(),
        [
            (None, "AKIAROOTACTIVE".to_owned()),
            (None, "AKIAROOTINACTIVE".to_owned())
        ]
    );
    let member = finding(&report, MEMBER);
    assert_eq!(member.status, Status::RootKeysDeleted, "{member:?}");
    assert!(member.keys.iter().all(|k| k.outcome == KeyOutcome::Deleted));
    let management = finding(&report, MANAGEMENT);
    assert_eq!(management.status, Status::Skipped);
    assert!(
        management.reason.contains("management account"),
        "{}",
        management.reason
    );
    assert!(report.findings.iter().all(|f| f.account != SUSPENDED));
    // Every IAM call signed in the root session (its key and token), never with the
    // function's own credentials, which would list and delete the keys of its own principal.
    assert_eq!(
        *f.signers.0.lock().unwrap(),
        vec![("ASIAROOTSESSION".to_owned(), true); 3]
    );
    // One notice per account acted on: the account, the root user and the deleted key ids.
    assert_eq!(f.publish.num_calls(), 1);
    let notice = f.published.lock().unwrap()[0].clone();
    assert_eq!(notice["topic"], TOPIC);
    assert_eq!(notice["subject"], "Root user access keys deleted");
    let m = &notice["message"];
    assert_eq!(m["account"], MEMBER);
    assert_eq!(m["detail"]["event"], "RootAccessKeysDeleted");
    assert_eq!(m["detail"]["user"], "root");
    assert_eq!(m["detail"]["secret"], Value::Null);
    assert_eq!(
        m["detail"]["keyIds"],
        json!(["AKIAROOTACTIVE", "AKIAROOTINACTIVE"])
    );
    assert!(
        m["detail"]["reason"].as_str().unwrap().contains("req-2"),
        "{m}"
    );
    assert_eq!((report.keys_found, report.keys_deleted), (2, 2));
    assert_eq!(report.count(Status::RootKeysDeleted), 1);
}

#[tokio::test]
async fn an_account_without_centralized_root_access_is_not_remediable_and_a_failing_one_stops_no_other(
) {
    const FAILING: &str = "444444444444";
    let mut f = fixture(true, Some(FAILING));
    // The failing account joins the Organization, listed before the others.
    let aws = RootKeysAws::from_clients(
        sts(&f.asked, Some(FAILING)),
        organization(&[
            (FAILING, AccountState::Active),
            (MANAGEMENT, AccountState::Active),
            (NOT_ENABLED, AccountState::Active),
            (MEMBER, AccountState::Active),
        ]),
        mock_client!(aws_sdk_iam, "us-east-1", [&f.list, &f.delete]),
        None,
    );
    let mut config = RootKeysConfig::from_lookup(&|_: &str| None).unwrap();
    config.remediate = true;
    f.remover = RootKeyRemover::new(aws, config).with_metrics(keep_in(&f.emitted));
    let report = f.remover.handle(scheduled(), "req-3").await.unwrap();

    let off = finding(&report, NOT_ENABLED);
    assert_eq!(off.status, Status::NotRemediable, "{off:?}");
    // The reason names both causes of a refusal and what to check.
    for cause in [
        "centralized root access is not enabled",
        "list-organizations-features",
        "explicit deny",
        "SCP",
        "permissions boundary",
        "sts:TaskPolicyArn",
        "AccessDenied",
    ] {
        assert!(off.reason.contains(cause), "{cause}: {}", off.reason);
    }
    let failed = finding(&report, FAILING);
    assert_eq!(failed.status, Status::Error, "{failed:?}");
    assert!(
        failed.reason.contains("sts:AssumeRoot")
            && failed.reason.contains("RegionDisabledException"),
        "{}",
        failed.reason
    );
    // The member after them is still remediated.
    assert_eq!(finding(&report, MEMBER).status, Status::RootKeysDeleted);
    assert_eq!(f.delete.num_calls(), 2);
    let doc = f.emitted.lock().unwrap()[0].clone();
    assert_eq!(doc["RootKeyAccountErrors"], 1);
    assert_eq!(doc["RootKeyAccountsNotRemediable"], 1);
}

/// REMEDIATE_ROOT_KEYS=true set on the function of a report-only stack (someone with
/// lambda:UpdateFunctionConfiguration): the run asks for the delete task policy, which the
/// role's sts:TaskPolicyArn condition (the audit one) refuses. Nothing is deleted, every member
/// is NOT_REMEDIABLE and counted in the metric the alarm watches.
#[tokio::test]
async fn remediation_switched_on_in_the_environment_alone_is_refused_and_deletes_nothing() {
    let mut f = fixture(true, None);
    let record = f.asked.clone();
    let mut rules = sts_rules();
    // What IAM answers for the report-only stack's role: only the audit task policy.
    rules.push(
        mock!(aws_sdk_sts::Client::assume_root)
            .match_requests(move |r| {
                let policy = r
                    .task_policy_arn()
                    .and_then(|p| p.arn())
                    .unwrap_or_default();
                record.lock().unwrap().push((
                    r.target_principal().unwrap_or_default().to_owned(),
                    policy.to_owned(),
                    r.duration_seconds(),
                ));
                policy != AUDIT_POLICY
            })
            .then_error(|| {
                AssumeRootError::generic(
                    aws_sdk_sts::error::ErrorMetadata::builder()
                        .code("AccessDenied")
                        .message("not authorized to perform: sts:AssumeRoot")
                        .build(),
                )
            }),
    );
    rules.push(mock!(aws_sdk_sts::Client::assume_root).then_output(root_session));
    let aws = RootKeysAws::from_clients(
        mock_client!(aws_sdk_sts, "us-east-1", &rules),
        organization(&[
            (MANAGEMENT, AccountState::Active),
            (MEMBER, AccountState::Active),
        ]),
        mock_client!(aws_sdk_iam, "us-east-1", [&f.list, &f.delete]),
        None,
    );
    let mut config = RootKeysConfig::from_lookup(&|k: &str| {
        (k == "REMEDIATE_ROOT_KEYS").then(|| "true".to_owned())
    })
    .unwrap();
    config.shared.notify_topic_arn = None;
    f.remover = RootKeyRemover::new(aws, config).with_metrics(keep_in(&f.emitted));
    let report = f.remover.handle(scheduled(), "req-env").await.unwrap();

    assert_eq!(
        *f.asked.lock().unwrap(),
        [(MEMBER.to_owned(), DELETE_POLICY.to_owned(), Some(900))]
    );
    let member = finding(&report, MEMBER);
    assert_eq!(member.status, Status::NotRemediable, "{member:?}");
    assert!(member.reason.contains("explicit deny"), "{}", member.reason);
    assert_eq!((f.list.num_calls(), f.delete.num_calls()), (0, 0));
    assert_eq!(report.keys_deleted, 0);
    let doc = f.emitted.lock().unwrap()[0].clone();
    assert_eq!(doc["RootKeyAccountsNotRemediable"], 1);
}

#[tokio::test]
async fn an_event_names_one_member_and_never_an_account_outside_the_organization() {
    let f = fixture(true, None);
    // One ACTIVE member: only that account.
    let report = f
        .remover
        .handle(json!({"Account": MEMBER}), "req-4")
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(targets(&f.asked), [MEMBER]);
    assert_eq!(f.delete.num_calls(), 2);

    // Outside the Organization, SUSPENDED, malformed: refused, no root session, nothing deleted.
    for (event, error_type) in [
        (
            json!({"Account": "999999999999"}),
            "RootKeys.AccountNotInOrganization",
        ),
        (
            json!({"Account": SUSPENDED}),
            "RootKeys.AccountNotInOrganization",
        ),
        (json!({"Account": "11111111111"}), "RootKeys.InvalidEvent"),
        (
            json!({"Account": MEMBER, "Force": true}),
            "RootKeys.InvalidEvent",
        ),
        (json!({}), "RootKeys.InvalidEvent"),
    ] {
        let e = f.remover.handle(event.clone(), "req-5").await.unwrap_err();
        assert_eq!(e.error_type(), error_type, "{event}: {e}");
        assert!(e.to_string().contains("nothing was done"), "{e}");
    }
    assert_eq!(targets(&f.asked), [MEMBER], "no other root session");
    assert_eq!(f.delete.num_calls(), 2, "nothing else deleted");

    // The management account named: reported as never touched, no root session.
    let report = f
        .remover
        .handle(json!({"Account": MANAGEMENT}), "req-6")
        .await
        .unwrap();
    assert_eq!(report.findings[0].status, Status::Skipped);
    assert_eq!(targets(&f.asked), [MEMBER]);
}

#[tokio::test]
async fn run_from_a_delegated_administrator_it_never_opens_its_own_account() {
    // The function's identity is in MEMBER (the IAM delegated administrator), not the
    // management account.
    let asked: Asked = Arc::default();
    let mut rules = vec![
        mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
                .arn(format!(
                    "arn:aws:sts::{MEMBER}:assumed-role/remove-root-keys/fn"
                ))
                .account(MEMBER)
                .build()
        }),
    ];
    let record = asked.clone();
    rules.push(
        mock!(aws_sdk_sts::Client::assume_root)
            .match_requests(move |r| {
                record.lock().unwrap().push((
                    r.target_principal().unwrap_or_default().to_owned(),
                    String::new(),
                    None,
                ));
                true
            })
            .then_error(|| {
                AssumeRootError::generic(
                    aws_sdk_sts::error::ErrorMetadata::builder()
                        .code("AccessDenied")
                        .build(),
                )
            }),
    );
    let iam: Vec<Rule> = Vec::new();
    let aws = RootKeysAws::from_clients(
        mock_client!(aws_sdk_sts, "us-east-1", &rules),
        organization(&[
            (MANAGEMENT, AccountState::Active),
            (MEMBER, AccountState::Active),
            (NOT_ENABLED, AccountState::Active),
        ]),
        mock_client!(aws_sdk_iam, "us-east-1", &iam),
        None,
    );
    let remover = RootKeyRemover::new(aws, RootKeysConfig::from_lookup(&|_: &str| None).unwrap())
        .with_metrics(keep_in(&Emitted::default()));
    let report = remover.handle(scheduled(), "req-7").await.unwrap();
    assert_eq!(targets(&asked), [NOT_ENABLED]);
    let own = finding(&report, MEMBER);
    assert_eq!(own.status, Status::Skipped);
    assert!(
        own.reason.contains("delegated administrator"),
        "{}",
        own.reason
    );
    assert_eq!(finding(&report, MANAGEMENT).status, Status::Skipped);
}

#[tokio::test]
async fn the_root_sessions_secrets_never_reach_the_logs_the_report_or_debug_output() {
    // The most verbose level the Lambda can be set to, with its filter.
    let (logs, _guard) = crate::support::logs_at_trace();
    let f = fixture(true, Some("444444444444"));
    let report = f.remover.handle(scheduled(), "req-8").await.unwrap();
    let session = aws_key_rotation::aws::sts::Sts::from(sts(&f.asked, None))
        .assume_root(MEMBER, DELETE_POLICY)
        .await
        .unwrap();
    drop(_guard);

    let text = logs.text();
    // Each deletion is one WARN line naming the account and the key.
    let warned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("root user access key deleted"))
        .collect();
    assert_eq!(warned.len(), 2, "{text}");
    assert!(warned.iter().all(|l| l.contains(MEMBER)), "{warned:?}");
    assert!(warned[0].contains("AKIAROOTACTIVE"), "{warned:?}");

    let secrets = [ROOT_SECRET.to_owned(), ROOT_TOKEN.to_owned()];
    capture::assert_no_secret("the logs", &text, &secrets);
    let json = serde_json::to_string(&report).unwrap();
    capture::assert_no_secret("the report", &json, &secrets);
    capture::assert_no_secret("the report's Debug", &format!("{report:?}"), &secrets);
    capture::assert_no_secret("the session's Debug", &format!("{session:?}"), &secrets);
    let notices = format!("{:?}", f.published.lock().unwrap());
    assert!(notices.contains("AKIAROOTACTIVE"), "{notices}");
    capture::assert_no_secret("the notices", &notices, &secrets);
    assert_eq!(session.access_key_id(), "ASIAROOTSESSION");
    println!(
        "leak check: {} log lines, a {}-byte report and the session's Debug searched",
        text.lines().count(),
        json.len()
    );
}
