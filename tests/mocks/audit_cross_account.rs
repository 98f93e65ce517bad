//! The sweep of cross-account rotations against answers a member account controls (attacker d:
//! everything in one member account, including what its APIs answer), which moto cannot forge:
//! which member's run sweeps a central secret's replaced key is decided by the central secret's
//! tags, read by the audit with its own credentials, never by the member's answers.

use crate::common::audit::config;
use crate::common::*;
use crate::support::audit::*;
use crate::support::*;
use aws_key_rotation::audit::report::{Kind, Report};
use aws_key_rotation::aws::{ClientFactory, RegionClients};
use aws_sdk_iam::types::StatusType;
use aws_smithy_mocks::{mock, Rule};
use std::sync::{Arc, Mutex};

/// The central account's secret, bound (by its tags) to `alice` in account 111111111111.
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alice-AbCdEf";
/// The member account audited here; not the one the secret's user is in.
const MEMBER: &str = "222222222222";

/// The central account's secrets: SECRET, whose tags say AKIANEW replaced AKIAOLD, of the user
/// in the account `user_account`.
fn central_secrets(user_account: &'static str) -> Vec<Rule> {
    vec![
        mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(move || {
            aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder()
                .secret_list(
                    aws_sdk_secretsmanager::types::SecretListEntry::builder()
                        .arn(SECRET)
                        .name("alice")
                        .rotation_enabled(true)
                        .tags(secret_tag("RotationType", "iam-access-key"))
                        .tags(secret_tag("KeyRotationUserName", "alice"))
                        .tags(secret_tag("KeyRotationUserAccount", user_account))
                        .tags(secret_tag("KeyRotationAccessKeyId", "AKIANEW"))
                        .tags(secret_tag("KeyRotationPreviousAccessKeyId", "AKIAOLD"))
                        .build(),
                )
                .build()
        }),
    ]
}

/// The member account's answers, all forged by its administrator: a user `alice` bound to the
/// central secret, both keys recorded as the rotator's for that binding, the replaced one idle
/// for 400 days. Returns the rules and the IAM writes they saw.
fn forged_member(writes: &Arc<Mutex<Vec<&'static str>>>) -> RegionRules {
    let user = || bound_user("alice", NOW - 900 * DAY, SECRET, &["AKIAOLD", "AKIANEW"]);
    let keys = vec![
        access_key(
            "alice",
            "AKIAOLD",
            StatusType::Active,
            Some(NOW - 400 * DAY),
        ),
        access_key("alice", "AKIANEW", StatusType::Active, Some(NOW - 30 * DAY)),
    ];
    let (w1, w2, w3) = (writes.clone(), writes.clone(), writes.clone());
    RegionRules {
        kms: vec![list_keys_rule(&[])],
        iam: vec![
            list_users_rule(vec![user()]),
            account_summary_rule(None),
            mock!(aws_sdk_iam::Client::get_user).then_output(move || {
                aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                    .user(user())
                    .build()
            }),
            list_access_keys_rule(None, keys),
            mock!(aws_sdk_iam::Client::get_access_key_last_used).then_output(|| {
                aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                    .user_name("alice")
                    .access_key_last_used(
                        aws_sdk_iam::types::AccessKeyLastUsed::builder()
                            .last_used_date(aws_smithy_types::DateTime::from_secs(NOW - 400 * DAY))
                            .service_name("s3")
                            .region("us-east-1")
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
            mock!(aws_sdk_iam::Client::update_access_key)
                .match_requests(move |_| {
                    w1.lock().unwrap().push("UpdateAccessKey");
                    true
                })
                .then_output(|| {
                    aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput::builder()
                        .build()
                }),
            mock!(aws_sdk_iam::Client::delete_access_key)
                .match_requests(move |_| {
                    w2.lock().unwrap().push("DeleteAccessKey");
                    true
                })
                .then_output(|| {
                    aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput::builder()
                        .build()
                }),
            mock!(aws_sdk_iam::Client::tag_user)
                .match_requests(move |_| {
                    w3.lock().unwrap().push("TagUser");
                    true
                })
                .then_output(|| aws_sdk_iam::operation::tag_user::TagUserOutput::builder().build()),
        ],
        ..RegionRules::default()
    }
}

/// A run of the member account alone (AUDIT_ROLE_ARNS), SWEEP=true, with the central account's
/// secrets answered by `central_secrets`: the report and the IAM writes made in the member
/// account.
async fn member_run(central_secrets: Vec<Rule>) -> (Report, Vec<&'static str>) {
    let writes: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let report = member_run_with(&forged_member(&writes), central_secrets).await;
    let writes = writes.lock().unwrap().clone();
    (report, writes)
}

/// A run of the member account alone, as [`member_run`], with the member's answers `member`.
async fn member_run_with(member: &RegionRules, central_secrets: Vec<Rule>) -> Report {
    let member = clients("us-east-1", member);
    let central = clients(
        "us-east-1",
        &RegionRules {
            iam: quiet_iam_rules(),
            secrets: central_secrets,
            ..RegionRules::default()
        },
    );
    let factory: ClientFactory = Arc::new(move |scope| -> RegionClients {
        match scope.credentials {
            Some(_) => {
                assert_eq!(scope.account, Some(MEMBER));
                member.clone()
            }
            None => central.clone(),
        }
    });
    let mut sts = sts_rules();
    sts.push(mock!(aws_sdk_sts::Client::assume_role).then_output(|| assumed("ASIAMEMBER")));
    let role = format!("arn:aws:iam::{MEMBER}:role/KeyRotationAudit");
    let cfg = config(&[
        ("AUDIT_ROLE_ARNS", &role),
        ("AUDIT_REGIONS", "us-east-1"),
        ("SWEEP", "true"),
    ]);
    let auditor = with_factory(cfg, "us-east-1", sts.iter(), factory, NOW);
    auditor.handle(scheduled()).await.unwrap()
}

/// A member account that answers as if it held the central secret's user and its keys (the
/// binding, the rotator's record, the key ids) cannot have its run sweep that secret's keys:
/// the secret's tags, which only the central account holds, say its user is in another
/// account, so the member's run never takes it for one of its own. When the tags do name the
/// member, the same answers are swept, through the member's role: the tags decide, not the
/// member.
#[tokio::test]
async fn a_member_cannot_take_a_central_secret_bound_elsewhere_for_its_own() {
    let (report, writes) = member_run(central_secrets("111111111111")).await;
    assert!(writes.is_empty(), "{writes:?}");
    let old = report
        .findings_of(Kind::IamAccessKey)
        .find(|f| f.resource == "AKIAOLD")
        .expect("AKIAOLD's finding");
    assert_eq!(old.account.as_deref(), Some(MEMBER));
    assert!(old.action.is_none(), "{old:#?}");
    assert!(!old.reason.contains("retiring"), "{old:#?}");

    let (report, writes) = member_run(central_secrets(MEMBER)).await;
    assert_eq!(writes, ["UpdateAccessKey", "TagUser"]);
    let old = report
        .findings_of(Kind::IamAccessKey)
        .find(|f| f.resource == "AKIAOLD")
        .expect("AKIAOLD's finding");
    assert!(old.reason.contains("deactivated by the sweep"), "{old:#?}");
}

/// With AUDIT_ROLE_ARNS alone, the central account's run (through a role of its own) reports
/// each secret whose user is in an account none of the roles is in, and assumes no role there;
/// a secret whose user is in an audited account is not reported.
#[tokio::test]
async fn a_central_secret_of_an_account_no_role_reaches_is_reported() {
    const COVERED: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bob-AbCdEf";
    let entry = |arn: &str, user: &str, user_account: &str| {
        aws_sdk_secretsmanager::types::SecretListEntry::builder()
            .arn(arn)
            .name("x")
            .rotation_enabled(true)
            .tags(secret_tag("RotationType", "iam-access-key"))
            .tags(secret_tag("KeyRotationUserName", user))
            .tags(secret_tag("KeyRotationUserAccount", user_account))
            .tags(secret_tag("KeyRotationAccessKeyId", "AKIANEW"))
            .tags(secret_tag("KeyRotationPreviousAccessKeyId", "AKIAOLD"))
            .build()
    };
    let central = clients(
        "us-east-1",
        &RegionRules {
            iam: quiet_iam_rules(),
            kms: vec![list_keys_rule(&[])],
            secrets: vec![
                mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(move || {
                    aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder()
                        .secret_list(entry(COVERED, "bob", MEMBER))
                        .secret_list(entry(SECRET, "alice", "333333333333"))
                        .build()
                }),
            ],
            ..RegionRules::default()
        },
    );
    let member = clients(
        "us-east-1",
        &RegionRules {
            iam: quiet_iam_rules(),
            kms: vec![list_keys_rule(&[])],
            ..RegionRules::default()
        },
    );
    let factory: ClientFactory = Arc::new(move |scope| -> RegionClients {
        match scope.account {
            Some(MEMBER) => member.clone(),
            _ => central.clone(),
        }
    });
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let sts = crate::support::audit::sts_recording(&asked, None);
    let roles = format!(
        "arn:aws:iam::{ACCOUNT}:role/KeyRotationAudit,arn:aws:iam::{MEMBER}:role/KeyRotationAudit"
    );
    let cfg = config(&[("AUDIT_ROLE_ARNS", &roles), ("AUDIT_REGIONS", "us-east-1")]);
    let auditor = with_factory(cfg, "us-east-1", sts.iter(), factory, NOW);
    let report = auditor.handle(scheduled()).await.unwrap();

    let secret = |arn: &str| {
        report
            .findings_of(Kind::Secret)
            .find(|f| f.resource == arn)
            .unwrap_or_else(|| panic!("{arn}: {:#?}", report.findings))
            .clone()
    };
    let outside = secret(SECRET);
    assert!(
        outside.reason.contains(
            "its user alice is in account 333333333333, which this audit does not cover: the sweep never acts on its keys"
        ),
        "{outside:#?}"
    );
    assert!(!secret(COVERED).reason.contains("does not cover"));
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked.iter().all(|r| !r.contains("333333333333")),
        "{asked:?}"
    );
}

/// When the central account's secrets cannot be listed, the member's run says so in an ERROR
/// finding naming the call, the region and the cause, and leaves the keys of its users bound to
/// a central secret as they are.
#[tokio::test]
async fn a_member_run_that_cannot_list_the_central_secrets_keeps_cross_account_keys() {
    let (report, writes) = member_run(vec![central_listing_denied()]).await;
    assert!(writes.is_empty(), "{writes:?}");
    let errors: Vec<_> = report
        .findings_of(Kind::Scope)
        .filter(|f| f.resource == "secretsmanager:ListSecrets")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].account.as_deref(), Some(MEMBER));
    assert_eq!(errors[0].region.as_deref(), Some("us-east-1"));
    assert!(
        errors[0].reason.contains(
            "the central account's rotation secrets cannot be listed (AccessDeniedException)"
        ),
        "{errors:#?}"
    );
    let old = report
        .findings_of(Kind::IamAccessKey)
        .find(|f| f.resource == "AKIAOLD")
        .expect("AKIAOLD's finding");
    assert!(old.action.is_none(), "{old:#?}");
}

fn central_listing_denied() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::list_secrets).then_error(|| {
        aws_sdk_secretsmanager::operation::list_secrets::ListSecretsError::generic(
            aws_sdk_secretsmanager::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .build(),
        )
    })
}

/// A central listing that fails stops only what depends on it: a member user bound to a secret
/// of the member account (bob) has its replaced key, still in use, deactivated at the hard stop
/// (OLD_KEY_FORCE_DAYS) as ever, while a member user bound to a central secret (alice) keeps
/// its keys: no listed secret names them, and the run's ERROR finding says why.
#[tokio::test]
async fn a_failed_central_listing_keeps_only_the_keys_of_users_bound_to_central_secrets() {
    const OWN: &str = "arn:aws:secretsmanager:us-east-1:222222222222:secret:bob-AbCdEf";
    let deactivated: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = deactivated.clone();
    let alice = || bound_user("alice", NOW - 900 * DAY, SECRET, &["AKIAOLD", "AKIANEW"]);
    let bob = || bound_user("bob", NOW - 900 * DAY, OWN, &["AKIABOBOLD", "AKIABOBNEW"]);
    let member = RegionRules {
        kms: vec![list_keys_rule(&[])],
        secrets: vec![
            mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(|| {
                aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder()
                    .secret_list(
                        aws_sdk_secretsmanager::types::SecretListEntry::builder()
                            .arn(OWN)
                            .name("bob")
                            .rotation_enabled(true)
                            .tags(secret_tag("RotationType", "iam-access-key"))
                            .tags(secret_tag("KeyRotationUserName", "bob"))
                            .tags(secret_tag("KeyRotationUserAccount", MEMBER))
                            .tags(secret_tag("KeyRotationAccessKeyId", "AKIABOBNEW"))
                            .tags(secret_tag("KeyRotationPreviousAccessKeyId", "AKIABOBOLD"))
                            .build(),
                    )
                    .build()
            }),
        ],
        iam: vec![
            list_users_rule(vec![alice(), bob()]),
            account_summary_rule(None),
            mock!(aws_sdk_iam::Client::get_user)
                .match_requests(|r| r.user_name() == Some("alice"))
                .then_output(move || {
                    aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                        .user(alice())
                        .build()
                }),
            mock!(aws_sdk_iam::Client::get_user)
                .match_requests(|r| r.user_name() == Some("bob"))
                .then_output(move || {
                    aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                        .user(bob())
                        .build()
                }),
            list_access_keys_rule(
                Some("alice"),
                vec![
                    access_key("alice", "AKIAOLD", StatusType::Active, Some(NOW - 800 * DAY)),
                    access_key("alice", "AKIANEW", StatusType::Active, Some(NOW - 400 * DAY)),
                ],
            ),
            list_access_keys_rule(
                Some("bob"),
                vec![
                    access_key("bob", "AKIABOBOLD", StatusType::Active, Some(NOW - 800 * DAY)),
                    access_key("bob", "AKIABOBNEW", StatusType::Active, Some(NOW - 400 * DAY)),
                ],
            ),
            // Every key in use yesterday: only the hard stop retires a replaced key.
            mock!(aws_sdk_iam::Client::get_access_key_last_used).then_output(|| {
                aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                    .access_key_last_used(
                        aws_sdk_iam::types::AccessKeyLastUsed::builder()
                            .last_used_date(aws_smithy_types::DateTime::from_secs(NOW - DAY))
                            .service_name("s3")
                            .region("us-east-1")
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
            mock!(aws_sdk_iam::Client::update_access_key)
                .match_requests(move |r| {
                    seen.lock()
                        .unwrap()
                        .push(r.access_key_id().unwrap_or_default().to_owned());
                    true
                })
                .then_output(|| {
                    aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput::builder()
                        .build()
                }),
            mock!(aws_sdk_iam::Client::tag_user)
                .then_output(|| aws_sdk_iam::operation::tag_user::TagUserOutput::builder().build()),
        ],
        ..RegionRules::default()
    };
    let report = member_run_with(&member, vec![central_listing_denied()]).await;
    assert_eq!(*deactivated.lock().unwrap(), ["AKIABOBOLD"]);
    let finding = |id: &str| {
        report
            .findings_of(Kind::IamAccessKey)
            .find(|f| f.resource == id)
            .unwrap_or_else(|| panic!("{id}: {:#?}", report.findings))
            .clone()
    };
    let bob_old = finding("AKIABOBOLD");
    assert!(
        bob_old.reason.contains("deactivated by the sweep"),
        "{bob_old:#?}"
    );
    let alice_old = finding("AKIAOLD");
    assert!(alice_old.action.is_none(), "{alice_old:#?}");
    assert_eq!(
        report
            .findings_of(Kind::Scope)
            .filter(|f| f.resource == "secretsmanager:ListSecrets")
            .count(),
        1
    );
}

/// A writer of a central secret (attacker a) who names a member user's key as the secret's
/// current key, with or without the account tag naming the member, does not become that key's
/// manager in the member's findings: a central secret's claim says which secret manages a key
/// only for a user bound to that secret.
#[tokio::test]
async fn a_central_secret_cannot_claim_a_member_key_as_the_one_it_manages() {
    const ATTACKER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:claim-XyZabc";
    const OWN: &str = "arn:aws:secretsmanager:us-east-1:222222222222:secret:carol-AbCdEf";
    for account in [None, Some(MEMBER)] {
        let central = vec![
            mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(move || {
                let mut entry = aws_sdk_secretsmanager::types::SecretListEntry::builder()
                    .arn(ATTACKER)
                    .name("claim")
                    .rotation_enabled(true)
                    .tags(secret_tag("RotationType", "iam-access-key"))
                    .tags(secret_tag("KeyRotationUserName", "carol"))
                    .tags(secret_tag("KeyRotationAccessKeyId", "AKIACAROL"));
                if let Some(a) = account {
                    entry = entry.tags(secret_tag("KeyRotationUserAccount", a));
                }
                aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder()
                    .secret_list(entry.build())
                    .build()
            }),
        ];
        let carol = || bound_user("carol", NOW - 900 * DAY, OWN, &["AKIACAROL"]);
        let member = RegionRules {
            kms: vec![list_keys_rule(&[])],
            iam: vec![
                list_users_rule(vec![carol()]),
                account_summary_rule(None),
                mock!(aws_sdk_iam::Client::get_user).then_output(move || {
                    aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                        .user(carol())
                        .build()
                }),
                list_access_keys_rule(
                    None,
                    vec![access_key(
                        "carol",
                        "AKIACAROL",
                        StatusType::Active,
                        Some(NOW - 400 * DAY),
                    )],
                ),
                mock!(aws_sdk_iam::Client::get_access_key_last_used).then_output(|| {
                    aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                        .access_key_last_used(
                            aws_sdk_iam::types::AccessKeyLastUsed::builder()
                                .last_used_date(aws_smithy_types::DateTime::from_secs(NOW - DAY))
                                .service_name("s3")
                                .region("us-east-1")
                                .build()
                                .unwrap(),
                        )
                        .build()
                }),
            ],
            ..RegionRules::default()
        };
        let report = member_run_with(&member, central).await;
        let f = report
            .findings_of(Kind::IamAccessKey)
            .find(|f| f.resource == "AKIACAROL")
            .unwrap_or_else(|| panic!("{:#?}", report.findings));
        let managed_by = f.iam.as_ref().and_then(|i| i.managed_by.as_deref());
        assert_ne!(managed_by, Some(ATTACKER), "{account:?}: {f:#?}");
        assert!(
            !f.reason.contains("managed by secret"),
            "{account:?}: {f:#?}"
        );
    }
}
