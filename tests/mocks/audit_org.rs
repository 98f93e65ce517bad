//! An audit of a whole Organization (`AUDIT_ORG_ROLE_NAME`) and of every enabled region
//! (`AUDIT_REGIONS=all`), with aws-smithy-mocks: account states moto does not model (SUSPENDED,
//! the `State` field), a paginated ListAccounts, refused roles and listings, and Account
//! Management's ListRegions, which moto does not implement.

use crate::common::audit::config;
use crate::common::*;
use crate::support::audit::*;
use crate::support::*;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::audit::verdict::Verdict;
use aws_key_rotation::aws::{ClientFactory, RegionClients};
use aws_sdk_account::operation::list_regions::{ListRegionsError, ListRegionsOutput};
use aws_sdk_account::types::{Region as AccountRegion, RegionOptStatus};
use aws_sdk_organizations::operation::describe_account::{
    DescribeAccountError, DescribeAccountOutput,
};
use aws_sdk_organizations::operation::list_accounts::{ListAccountsError, ListAccountsOutput};
use aws_sdk_organizations::types::{Account as OrgAccount, AccountState, AccountStatus};
use aws_smithy_mocks::{mock, Rule};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

const ROLE: &str = "KeyRotationAudit";

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/{ROLE}")
}

fn member(id: &str, state: Option<AccountState>, status: Option<AccountStatus>) -> OrgAccount {
    OrgAccount::builder()
        .id(id)
        .set_state(state)
        .set_status(status)
        .build()
}

/// ListAccounts over two pages: the management account (this function's), an ACTIVE member, a
/// SUSPENDED one, one that reports only the deprecated `Status`, and one whose role is refused.
fn organization() -> Rule {
    mock!(aws_sdk_organizations::Client::list_accounts)
        .then_output(|| ListAccountsOutput::builder().build())
}

fn two_pages() -> Vec<Rule> {
    vec![
        mock!(aws_sdk_organizations::Client::list_accounts)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| {
                ListAccountsOutput::builder()
                    .accounts(member(ACCOUNT, Some(AccountState::Active), None))
                    .accounts(member("111111111111", Some(AccountState::Active), None))
                    .accounts(member(
                        "222222222222",
                        Some(AccountState::Suspended),
                        Some(AccountStatus::Suspended),
                    ))
                    .next_token("page-2")
                    .build()
            }),
        mock!(aws_sdk_organizations::Client::list_accounts)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                ListAccountsOutput::builder()
                    .accounts(member("333333333333", None, Some(AccountStatus::Active)))
                    .accounts(member("444444444444", Some(AccountState::Active), None))
                    .accounts(member(
                        "555555555555",
                        Some(AccountState::PendingClosure),
                        None,
                    ))
                    .build()
            }),
    ]
}

/// STS: the function's identity; AssumeRole of the member role works except in 444444444444.
/// Every role asked for is recorded.
fn sts(asked: &Arc<Mutex<Vec<String>>>) -> Vec<Rule> {
    crate::support::audit::sts_recording(asked, Some(role("444444444444")))
}

/// Clients per region, whatever the account; records the (account, region) of each set made.
fn factory(
    regions: Vec<(&str, RegionRules)>,
    made: &Arc<Mutex<BTreeSet<(String, String)>>>,
) -> ClientFactory {
    let by_region: HashMap<String, RegionClients> = regions
        .iter()
        .map(|(r, rules)| (r.to_string(), clients(r, rules)))
        .collect();
    let made = made.clone();
    Arc::new(move |scope| {
        made.lock().unwrap().insert((
            scope.account.unwrap_or("own").to_owned(),
            scope.region.to_owned(),
        ));
        by_region
            .get(scope.region)
            .cloned()
            .unwrap_or_else(|| panic!("no mock clients for {}", scope.region))
    })
}

fn accounts_of_keys(report: &Report) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in report.findings_of(Kind::KmsKey) {
        out.entry(f.account.clone().unwrap_or_default())
            .or_default()
            .push(f.region.clone().unwrap_or_default());
    }
    out
}

/// An auditor of us-east-1, where every account has one rotation-off key `k1`.
fn one_key_auditor(
    cfg: aws_key_rotation::audit::config::AuditConfig,
    asked: &Arc<Mutex<Vec<String>>>,
    made: &Arc<Mutex<BTreeSet<(String, String)>>>,
) -> aws_key_rotation::audit::Auditor {
    with_factory(
        cfg,
        "us-east-1",
        &sts(asked),
        factory(vec![("us-east-1", kms_only(rotation_off_key("k1")))], made),
        NOW,
    )
}

#[tokio::test]
async fn every_active_account_is_audited_through_its_role_and_a_refused_role_is_one_error() {
    let asked = Arc::default();
    let made = Arc::default();
    let mut listing = two_pages();
    // The function runs in the management account: a refused member role stays an ERROR.
    listing.push(
        mock!(aws_sdk_organizations::Client::describe_organization).then_output(|| {
            aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput::builder()
                .organization(
                    aws_sdk_organizations::types::Organization::builder()
                        .master_account_id(ACCOUNT)
                        .build(),
                )
                .build()
        }),
    );
    let cfg = config(&[("AUDIT_ORG_ROLE_NAME", ROLE)]);
    let auditor = one_key_auditor(cfg, &asked, &made).with_organizations(mock_client!(
        aws_sdk_organizations,
        "us-east-1",
        listing.iter()
    ));
    let report = auditor.handle(scheduled()).await.unwrap();

    // Own account with its own credentials, the ACTIVE members through the role; the
    // SUSPENDED and PENDING_CLOSURE ones are not asked.
    let asked: BTreeSet<String> = asked.lock().unwrap().iter().cloned().collect();
    assert_eq!(
        asked,
        BTreeSet::from([
            role("111111111111"),
            role("333333333333"),
            role("444444444444")
        ])
    );
    assert_eq!(
        accounts_of_keys(&report).into_keys().collect::<Vec<_>>(),
        ["111111111111", ACCOUNT, "333333333333"]
    );
    let errors: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].resource, role("444444444444"));
    assert_eq!(errors[0].account.as_deref(), Some("444444444444"));
    assert_eq!(errors[0].verdict, Verdict::Error);
    assert_eq!(errors[0].error_code.as_deref(), Some("AccessDenied"));
    assert!(
        listing[..2].iter().all(|r| r.num_calls() == 1),
        "both pages, once"
    );
    assert_eq!(
        report.stats.aws_calls.get("organizations:ListAccounts"),
        Some(&2)
    );
    // The own account's clients carry no assumed credentials, the members' do.
    let made = made.lock().unwrap();
    assert!(made.contains(&(ACCOUNT.to_owned(), "us-east-1".to_owned())));
    assert!(!format!("{report:?}").contains("assumed-secret"));
}

#[tokio::test]
async fn an_organization_that_cannot_be_listed_is_one_error_and_the_own_account_is_still_audited() {
    let asked = Arc::default();
    let made = Arc::default();
    let denied = mock!(aws_sdk_organizations::Client::list_accounts).then_error(|| {
        ListAccountsError::AccessDeniedException(
            aws_sdk_organizations::types::error::AccessDeniedException::builder()
                .message("not the management account")
                .meta(
                    aws_sdk_organizations::error::ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .build(),
                )
                .build(),
        )
    });
    let cfg = config(&[("AUDIT_ORG_ROLE_NAME", ROLE)]);
    let auditor = one_key_auditor(cfg, &asked, &made).with_organizations(mock_client!(
        aws_sdk_organizations,
        "us-east-1",
        [&denied]
    ));
    let report = auditor.handle(scheduled()).await.unwrap();

    assert!(asked.lock().unwrap().is_empty());
    assert_eq!(
        accounts_of_keys(&report).into_keys().collect::<Vec<_>>(),
        [ACCOUNT]
    );
    let errors: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].resource, "organizations:ListAccounts");
    assert_eq!(
        errors[0].error_code.as_deref(),
        Some("AccessDeniedException")
    );
    assert!(
        errors[0].reason.contains("cannot be listed"),
        "{}",
        errors[0].reason
    );
}

/// DescribeAccount answering `state` for `account` (the deprecated `Status` left out).
fn describe(account: &'static str, state: AccountState) -> Rule {
    mock!(aws_sdk_organizations::Client::describe_account)
        .match_requests(move |r| r.account_id() == Some(account))
        .then_output(move || {
            DescribeAccountOutput::builder()
                .account(member(account, Some(state.clone()), None))
                .build()
        })
}

fn kms_event(account: &str) -> serde_json::Value {
    crate::common::audit::cloudtrail_event(
        "aws.kms",
        "DisableKeyRotation",
        "us-east-1",
        account,
        serde_json::json!({"keyId": "k1"}),
        serde_json::Value::Null,
    )
}

#[tokio::test]
async fn an_event_from_a_member_account_audits_that_account_only_without_listing_the_organization()
{
    let asked = Arc::default();
    let made = Arc::default();
    let listing = organization();
    let described = describe("111111111111", AccountState::Active);
    let cfg = config(&[("AUDIT_ORG_ROLE_NAME", ROLE)]);
    let auditor = one_key_auditor(cfg, &asked, &made).with_organizations(mock_client!(
        aws_sdk_organizations,
        "us-east-1",
        [&listing, &described]
    ));
    let report = auditor.handle(kms_event("111111111111")).await.unwrap();

    assert_eq!(listing.num_calls(), 0);
    assert_eq!(
        described.num_calls(),
        1,
        "checked against the Organization first"
    );
    assert_eq!(*asked.lock().unwrap(), [role("111111111111")]);
    let f = key_finding(&report, "k1");
    assert_eq!(f.account.as_deref(), Some("111111111111"));
    assert_eq!(report.findings_of(Kind::Scope).count(), 0);
}

/// Whoever can put an event on a bus the audit listens to writes its `account`: an account the
/// Organization does not have as ACTIVE (unknown, suspended, or unreadable) is one ERROR
/// finding and no AssumeRole, exactly as for a fan-out message. The function's own account and
/// the accounts of AUDIT_ROLE_ARNS are covered already and need no check.
#[tokio::test]
async fn an_event_from_an_account_the_organization_does_not_vouch_for_assumes_no_role() {
    let not_found = || {
        mock!(aws_sdk_organizations::Client::describe_account)
            .match_requests(|r| r.account_id() == Some("999999999999"))
            .then_error(|| {
                DescribeAccountError::AccountNotFoundException(
                    aws_sdk_organizations::types::error::AccountNotFoundException::builder()
                        .message("no such account")
                        .meta(
                            aws_sdk_organizations::error::ErrorMetadata::builder()
                                .code("AccountNotFoundException")
                                .build(),
                        )
                        .build(),
                )
            })
    };
    let denied = || {
        mock!(aws_sdk_organizations::Client::describe_account)
            .match_requests(|r| r.account_id() == Some("777777777777"))
            .then_error(|| {
                DescribeAccountError::generic(
                    aws_sdk_organizations::error::ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .build(),
                )
            })
    };
    for (account, rule, why, code) in [
        (
            "999999999999",
            not_found(),
            "not an ACTIVE account of the Organization",
            None,
        ),
        (
            "222222222222",
            describe("222222222222", AccountState::Suspended),
            "not an ACTIVE account of the Organization",
            None,
        ),
        (
            "777777777777",
            denied(),
            "whether it belongs to the Organization cannot be read (AccessDeniedException)",
            Some("AccessDeniedException"),
        ),
    ] {
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let made = Arc::default();
        let cfg = config(&[("AUDIT_ORG_ROLE_NAME", ROLE)]);
        let auditor = one_key_auditor(cfg, &asked, &made).with_organizations(mock_client!(
            aws_sdk_organizations,
            "us-east-1",
            [&rule]
        ));
        let report = auditor.handle(kms_event(account)).await.unwrap();

        assert_eq!(rule.num_calls(), 1, "{account}");
        assert!(asked.lock().unwrap().is_empty(), "{account}: no AssumeRole");
        assert!(
            report.accounts.is_empty(),
            "{account}: {:?}",
            report.accounts
        );
        assert_eq!(
            report.findings.len(),
            1,
            "{account}: {:#?}",
            report.findings
        );
        let f = &report.findings[0];
        assert_eq!(
            (f.kind, f.verdict),
            (Kind::Scope, Verdict::Error),
            "{account}"
        );
        assert_eq!(f.resource, "organizations:DescribeAccount");
        assert_eq!(f.account.as_deref(), Some(account));
        assert!(
            f.reason
                .contains(&format!("account {account} is not audited"))
                && f.reason.contains(why),
            "{account}: {}",
            f.reason
        );
        assert_eq!(f.error_code.as_deref(), code, "{account}");
    }

    // The function's own account names itself: audited with its own credentials, nothing asked.
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let made = Arc::default();
    let any = mock!(aws_sdk_organizations::Client::describe_account)
        .then_output(|| DescribeAccountOutput::builder().build());
    let cfg = config(&[("AUDIT_ORG_ROLE_NAME", ROLE)]);
    let auditor = one_key_auditor(cfg, &asked, &made).with_organizations(mock_client!(
        aws_sdk_organizations,
        "us-east-1",
        [&any]
    ));
    let report = auditor.handle(kms_event(ACCOUNT)).await.unwrap();
    assert_eq!(any.num_calls(), 0);
    assert!(asked.lock().unwrap().is_empty());
    assert_eq!(key_finding(&report, "k1").account.as_deref(), Some(ACCOUNT));
}

fn regions_rule(regions: &'static [(&'static str, RegionOptStatus)]) -> Rule {
    mock!(aws_sdk_account::Client::list_regions)
        .match_requests(|r| {
            // Only the regions that can be audited are asked for.
            let asked = r.region_opt_status_contains();
            asked.contains(&RegionOptStatus::Enabled)
                && asked.contains(&RegionOptStatus::EnabledByDefault)
                && asked.len() == 2
        })
        .then_output(move || {
            ListRegionsOutput::builder()
                .set_regions(Some(
                    regions
                        .iter()
                        .map(|(name, status)| {
                            AccountRegion::builder()
                                .region_name(*name)
                                .region_opt_status(status.clone())
                                .build()
                        })
                        .collect(),
                ))
                .build()
        })
}

#[tokio::test]
async fn all_regions_are_the_regions_each_account_has_enabled() {
    let asked = Arc::default();
    let made: Arc<Mutex<BTreeSet<(String, String)>>> = Arc::default();
    // A region that answers DISABLED (a filter AWS applies anyway) is not audited.
    let home = RegionRules {
        account: vec![regions_rule(&[
            ("us-east-1", RegionOptStatus::EnabledByDefault),
            ("eu-south-1", RegionOptStatus::Enabled),
            ("me-south-1", RegionOptStatus::Disabled),
        ])],
        ..kms_only(rotation_off_key("k1"))
    };
    let opted_in = kms_only(rotation_off_key("k2"));
    let cfg = config(&[("AUDIT_REGIONS", "all")]);
    let auditor = with_factory(
        cfg,
        "us-east-1",
        &sts(&asked),
        factory(vec![("us-east-1", home), ("eu-south-1", opted_in)], &made),
        NOW,
    );
    let report = auditor.handle(scheduled()).await.unwrap();

    assert_eq!(
        accounts_of_keys(&report),
        BTreeMap::from([(
            ACCOUNT.to_owned(),
            vec!["eu-south-1".to_owned(), "us-east-1".to_owned()]
        )])
        .into_iter()
        .map(|(a, mut r)| {
            r.sort();
            (a, r)
        })
        .collect::<BTreeMap<_, _>>(),
        "{:#?}",
        report.findings
    );
    assert!(!made
        .lock()
        .unwrap()
        .iter()
        .any(|(_, region)| region == "me-south-1"));
    assert_eq!(report.stats.aws_calls.get("account:ListRegions"), Some(&1));
    assert_eq!(report.findings_of(Kind::Scope).count(), 0);
}

#[tokio::test]
async fn regions_that_cannot_be_listed_are_one_error_and_the_home_region_is_still_audited() {
    let asked = Arc::default();
    let made = Arc::default();
    let home = RegionRules {
        account: vec![mock!(aws_sdk_account::Client::list_regions).then_error(|| {
            ListRegionsError::AccessDeniedException(
                aws_sdk_account::types::error::AccessDeniedException::builder()
                    .message("denied")
                    .meta(
                        aws_sdk_account::error::ErrorMetadata::builder()
                            .code("AccessDeniedException")
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
        })],
        ..kms_only(rotation_off_key("k1"))
    };
    let cfg = config(&[("AUDIT_REGIONS", "all")]);
    let auditor = with_factory(
        cfg,
        "us-east-1",
        &sts(&asked),
        factory(vec![("us-east-1", home)], &made),
        NOW,
    );
    let report = auditor.handle(scheduled()).await.unwrap();

    assert_eq!(
        key_finding(&report, "k1").region.as_deref(),
        Some("us-east-1")
    );
    let errors: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].resource, "account:ListRegions");
    assert!(
        errors[0].reason.contains("only us-east-1 is audited"),
        "{}",
        errors[0].reason
    );
}

#[tokio::test]
async fn a_malformed_account_id_in_an_event_is_refused_before_any_call() {
    // An event or fan-out message is written by whoever may send it: an account id that is not
    // twelve digits reaches no API and no finding text.
    let any = mock!(aws_sdk_organizations::Client::describe_account)
        .then_output(|| unreachable!("DescribeAccount asked for a malformed id"));
    for account in ["12345", "12345678901a", "123456789012\n=cmd"] {
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let made = Arc::default();
        let cfg = config(&[("AUDIT_ORG_ROLE_NAME", ROLE)]);
        let auditor = one_key_auditor(cfg, &asked, &made).with_organizations(mock_client!(
            aws_sdk_organizations,
            "us-east-1",
            [&any]
        ));
        let Ok(report) = auditor.handle(kms_event(account)).await else {
            // Refused as a bad event: nothing audited, nothing asked.
            assert!(asked.lock().unwrap().is_empty(), "{account:?}");
            continue;
        };
        assert!(
            asked.lock().unwrap().is_empty(),
            "{account:?}: no AssumeRole"
        );
        assert!(report.accounts.is_empty(), "{account:?}");
        for f in &report.findings {
            assert!(!f.reason.contains(account), "{account:?}: {}", f.reason);
        }
    }
    assert_eq!(any.num_calls(), 0);
}
