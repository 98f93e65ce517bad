//! Which accounts and regions an audit covers: the function's own account, one assumed role
//! per account (`AUDIT_ROLE_ARNS`), or every ACTIVE account of the Organization through the
//! role `AUDIT_ORG_ROLE_NAME`; the configured regions, or with `AUDIT_REGIONS=all` those enabled
//! in each account. An account or a region list that cannot be reached is an ERROR finding and
//! the rest goes on.

use super::context::{Account, Ctx, SESSION_NAME};
use super::report::Finding;
use crate::arn::Arn;
use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use std::collections::BTreeSet;
use std::sync::Arc;
use tracing::{info, warn};

/// The function's own identity.
struct Own {
    id: Option<String>,
    /// `aws`, `aws-cn`, `aws-us-gov`…
    partition: String,
}

impl Ctx<'_> {
    /// The accounts to audit (for an event or a fan-out message: the account it names, if the
    /// audit covers it), each with credentials and regions; what cannot be reached becomes ERROR
    /// findings. An account named only by the event or message (not the function's own, not one
    /// of `AUDIT_ROLE_ARNS`) is audited through the Organization role only if Organizations says
    /// it is an ACTIVE member ([`Ctx::member`]): whoever can put an event on the bus or a message
    /// in the queue must not steer the audit, and its AssumeRole, elsewhere.
    pub(super) async fn accounts(
        &self,
        event_account: Option<&str>,
    ) -> (Vec<Account>, Vec<Finding>) {
        let mut findings = Vec::new();
        let (own, roles) = self.targets(event_account, &mut findings).await;
        let mut accounts: Vec<Account> = own
            .map(|own| Account {
                id: own.id,
                role: None,
                credentials: None,
                regions: Vec::new(),
            })
            .into_iter()
            .collect();
        if accounts.is_empty() && roles.is_empty() {
            // (Unless the account was already refused, with its reason.)
            if let Some(a) =
                event_account.filter(|a| !findings.iter().any(|f| f.account.as_deref() == Some(*a)))
            {
                findings.push(outside(a));
            }
            return (Vec::new(), findings);
        }
        accounts.extend(self.assume(roles, &mut findings).await);
        let regions = futures::future::join_all(accounts.iter().map(|a| self.regions_of(a))).await;
        for (account, (regions, refused)) in accounts.iter_mut().zip(regions) {
            account.regions = regions;
            findings.extend(refused);
        }
        (accounts, findings)
    }

    /// The ids of every account a full audit covers, without assuming any role: what a
    /// scheduled audit fans out.
    pub(super) async fn account_ids(&self, findings: &mut Vec<Finding>) -> Vec<String> {
        let (own, roles) = self.targets(None, findings).await;
        let mut ids: Vec<String> = Vec::new();
        for id in own
            .and_then(|o| o.id)
            .into_iter()
            .chain(roles.iter().filter_map(|r| {
                Arn::parse(r)
                    .and_then(|a| a.account_id())
                    .map(str::to_owned)
            }))
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Whom an audit covers: the function's own account, when it is covered (by default, and in
    /// an Organization, where StackSets do not deploy the member role to the management account),
    /// and the roles to assume (`AUDIT_ROLE_ARNS`, and the Organization's accounts through
    /// `AUDIT_ORG_ROLE_NAME`), narrowed to `event_account` when an event names one.
    async fn targets(
        &self,
        event_account: Option<&str>,
        findings: &mut Vec<Finding>,
    ) -> (Option<Own>, Vec<String>) {
        let org_role = self.config().org_role_name.as_deref();
        let roles = &self.config().role_arns;
        let own = match roles.is_empty() || org_role.is_some() {
            true => Some(self.own(findings).await),
            false => None,
        };
        let mut targets: Vec<String> = roles
            .iter()
            .filter(|r| {
                event_account.is_none_or(|a| Arn::parse(r).and_then(|x| x.account_id()) == Some(a))
            })
            .cloned()
            .collect();
        if let (Some(name), Some(own)) = (org_role, &own) {
            let covered: BTreeSet<String> = targets
                .iter()
                .filter_map(|r| {
                    Arn::parse(r)
                        .and_then(|a| a.account_id())
                        .map(str::to_owned)
                })
                .chain(own.id.clone())
                .collect();
            let members = match event_account {
                Some(a) if covered.contains(a) => Vec::new(),
                // An event names its account: DescribeAccount, no need to list the Organization.
                Some(a) => self.member(a, findings).await,
                None => self.organization_accounts(findings, own).await,
            };
            targets.extend(
                members
                    .into_iter()
                    .filter(|a| !covered.contains(a))
                    .map(|a| format!("arn:{}:iam::{a}:role/{name}", own.partition)),
            );
        }
        // AUDIT_ROLE_ARNS alone: the own account is audited only through a role of the list;
        // a full audit says so when none is in it, rather than leave a silent gap.
        if own.is_none() && event_account.is_none() {
            findings.extend(self.own_not_covered(roles).await);
        }
        // An own account that could not be identified is still audited (as "own").
        let own =
            own.filter(|o| event_account.is_none_or(|e| o.id.as_deref().is_none_or(|id| id == e)));
        (own, targets)
    }

    /// `[account]` if it is an ACTIVE account of the Organization, else nothing and an ERROR
    /// finding: the one check every account an event or a fan-out message names passes before
    /// any role is assumed in it.
    async fn member(&self, account: &str, findings: &mut Vec<Finding>) -> Vec<String> {
        // An account id is twelve digits: anything else is refused before any call, and its
        // text reaches no finding.
        if !super::events::is_account_id(account) {
            warn!(account = ?account, "a malformed account id named by an event or message refused");
            findings.push(Finding::scope_error(
                "organizations:DescribeAccount",
                None,
                None,
                "an event or message named a malformed account id; nothing was audited for it"
                    .to_owned(),
                None,
            ));
            return Vec::new();
        }
        let Some(organizations) = &self.aws.organizations else {
            warn!(account, "no Organizations client: an account named by an event or message cannot be confirmed");
            findings.push(Finding::scope_error(
                "organizations:DescribeAccount",
                Some(account),
                None,
                format!("account {account} is not audited: its membership of the Organization cannot be checked"),
                None,
            ));
            return Vec::new();
        };
        let organizations = organizations.through(self.own_lane("organizations"));
        let (why, code) = match organizations.is_active_member(account).await {
            Ok(true) => return vec![account.to_owned()],
            Ok(false) => (
                "it is not an ACTIVE account of the Organization".to_owned(),
                None,
            ),
            Err(e) => (
                format!(
                    "whether it belongs to the Organization cannot be read ({})",
                    e.code_or_message()
                ),
                e.code,
            ),
        };
        warn!(account, why = %why, "account named by an event or message refused");
        findings.push(Finding::scope_error(
            "organizations:DescribeAccount",
            Some(account),
            None,
            format!("account {account} is not audited: {why}"),
            code.as_deref(),
        ));
        Vec::new()
    }

    /// The function's own account id and partition; without an id (and with an ERROR
    /// finding) when GetCallerIdentity fails.
    async fn own(&self, findings: &mut Vec<Finding>) -> Own {
        match self.own_arn().await {
            Ok(arn) => {
                let parsed = Arn::parse(&arn);
                Own {
                    id: parsed.and_then(|a| a.account_id()).map(str::to_owned),
                    partition: parsed.map_or("aws", |a| a.partition).to_owned(),
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot identify the function's own account");
                findings.push(Finding::scope_error(
                    "sts:GetCallerIdentity",
                    None,
                    None,
                    format!("the function's own account cannot be identified: {e}"),
                    e.code.as_deref(),
                ));
                Own {
                    id: None,
                    partition: "aws".to_owned(),
                }
            }
        }
    }

    /// The Organization's ACTIVE accounts, through the function's own lane, listed at most once
    /// a run; `None` without an Organizations client.
    pub(super) async fn active_accounts(&self) -> Option<&Result<Vec<String>, Arc<AwsError>>> {
        let organizations = self.aws.organizations.as_ref()?;
        let listed = self.organization.get_or_init(|| async {
            organizations
                .through(self.own_lane("organizations"))
                .active_accounts()
                .await
                .map_err(Arc::new)
        });
        Some(listed.await)
    }

    /// The Organization's ACTIVE accounts; an ERROR finding when they cannot be listed.
    async fn organization_accounts(&self, findings: &mut Vec<Finding>, own: &Own) -> Vec<String> {
        let Some(listed) = self.active_accounts().await else {
            return Vec::new();
        };
        match listed {
            Ok(ids) => {
                info!(accounts = ids.len(), "Organization accounts listed");
                ids.clone()
            }
            Err(e) => {
                warn!(error = %e, "cannot list the Organization's accounts");
                findings.push(Finding::scope_error(
                    "organizations:ListAccounts",
                    own.id.as_deref(),
                    None,
                    format!(
                        "the Organization's accounts cannot be listed: only the accounts named \
                         otherwise are audited ({})",
                        e.code_or_message()
                    ),
                    e.code.as_deref(),
                ));
                Vec::new()
            }
        }
    }

    /// One AssumeRole per role, all at once; a role that cannot be assumed is an ERROR finding
    /// for its account.
    async fn assume(&self, roles: Vec<String>, findings: &mut Vec<Finding>) -> Vec<Account> {
        let assumed = futures::future::join_all(roles.into_iter().map(|role| async move {
            let id = Arn::parse(&role)
                .and_then(|a| a.account_id())
                .map(str::to_owned);
            let lane = Lane::new(
                self.gate.clone(),
                &format!("{}/sts", id.as_deref().unwrap_or("?")),
            );
            let result = self
                .aws
                .sts
                .through(lane)
                .assume_role(&role, None, SESSION_NAME)
                .await;
            (role, id, result)
        }))
        .await;
        let mut accounts = Vec::new();
        for (role, id, result) in assumed {
            match result {
                Ok(credentials) => accounts.push(Account {
                    id,
                    role: Some(role),
                    credentials: Some(credentials),
                    regions: Vec::new(),
                }),
                Err(e)
                    if e.code_is("AccessDenied")
                        && self.is_uncovered_management(&role, id.as_deref()).await =>
                {
                    let account = id.as_deref().unwrap_or_default();
                    warn!(
                        account,
                        "the Organization's management account is not covered"
                    );
                    findings.push(management_not_covered(
                        account,
                        self.config().org_role_name.as_deref().unwrap_or_default(),
                    ));
                }
                Err(e) => {
                    warn!(role_arn = %role, error = %e, "cannot assume the audit role");
                    findings.push(Finding::scope_error(
                        role.clone(),
                        id.as_deref(),
                        None,
                        format!(
                            "cannot assume {role}: the account is not audited ({})",
                            e.code_or_message()
                        ),
                        e.code.as_deref(),
                    ));
                }
            }
        }
        accounts
    }

    /// With `AUDIT_ROLE_ARNS` and no Organization role, the function's own account is audited
    /// only through a role of the list: one NOT_APPLICABLE finding when none is in it.
    async fn own_not_covered(&self, roles: &[String]) -> Option<Finding> {
        let fix = "AUDIT_ROLE_ARNS is set without AUDIT_ORG_ROLE_NAME, so only the accounts of \
                   its roles are audited; add a role of this account to AUDIT_ROLE_ARNS to audit it";
        let (id, reason) = match self.own_account_id().await {
            Ok(id) => {
                let listed = roles
                    .iter()
                    .any(|r| Arn::parse(r).and_then(|a| a.account_id()) == Some(id.as_str()));
                if listed {
                    return None;
                }
                let reason = format!("the function's own account {id} is not audited: {fix}");
                (Some(id), reason)
            }
            Err(why) => (
                None,
                format!(
                    "the function's own account is not audited unless a role of AUDIT_ROLE_ARNS \
                     is in it (its id cannot be read: {why}): {fix}"
                ),
            ),
        };
        warn!(account = ?id, "the function's own account is not in AUDIT_ROLE_ARNS: not audited");
        let resource = format!("{}/own-account-not-covered", id.as_deref().unwrap_or("own"));
        Some(Finding {
            account: id,
            ..Finding::new(
                super::report::Kind::Scope,
                resource,
                super::verdict::Verdict::NotApplicable,
                reason,
            )
        })
    }

    /// Whether `role` is the Organization role (`AUDIT_ORG_ROLE_NAME`) in the Organization's
    /// management account (DescribeOrganization), when that is not the function's own: the one
    /// account service-managed StackSets never deploy the member role to. `false` when that
    /// cannot be told.
    async fn is_uncovered_management(&self, role: &str, account: Option<&str>) -> bool {
        let (Some(name), Some(account), Some(organizations)) = (
            self.config().org_role_name.as_deref(),
            account,
            &self.aws.organizations,
        ) else {
            return false;
        };
        if Arn::parse(role).is_none_or(|a| a.resource != format!("role/{name}")) {
            return false;
        }
        if self.own_account_id().await.ok().as_deref() == Some(account) {
            return false;
        }
        let management = self
            .management_account
            .get_or_init(|| async {
                let organizations = organizations.through(self.own_lane("organizations"));
                match organizations.management_account().await {
                    Ok(management) => management,
                    Err(e) => {
                        warn!(error = %e, "cannot read the Organization's management account");
                        None
                    }
                }
            })
            .await;
        management.as_deref() == Some(account)
    }

    /// The regions audited in `account`: `AUDIT_REGIONS`, or with `all` those enabled in the
    /// account; when they cannot be listed, the function's own region and an ERROR finding.
    pub(super) async fn regions_of(&self, account: &Account) -> (Vec<String>, Option<Finding>) {
        if !self.config().all_regions {
            return (self.regions.clone(), None);
        }
        let home = &self.regions[0];
        match self.aws(account, home).account.enabled_regions().await {
            Ok(regions) if !regions.is_empty() => (regions, None),
            Ok(_) => (self.regions.clone(), None),
            Err(e) => {
                warn!(account = account.label(), error = %e, "cannot list the account's regions");
                let refused = Finding::scope_error(
                    "account:ListRegions",
                    account.id.as_deref(),
                    None,
                    format!(
                        "the regions enabled in the account cannot be listed: only {home} is \
                         audited ({})",
                        e.code_or_message()
                    ),
                    e.code.as_deref(),
                );
                (self.regions.clone(), Some(refused))
            }
        }
    }
}

fn outside(account: &str) -> Finding {
    Finding::scope_error(
        "account",
        Some(account),
        None,
        format!(
            "the event comes from account {account}, which this audit does not cover \
             (AUDIT_ROLE_ARNS, AUDIT_ORG_ROLE_NAME)"
        ),
        None,
    )
}

/// The finding for the Organization's management account that the audit cannot enter: a
/// lasting, known coverage gap (NON_COMPLIANT, not an ERROR that pages every night), with how
/// to close it.
fn management_not_covered(account: &str, role_name: &str) -> Finding {
    Finding {
        account: Some(account.to_owned()),
        error_code: Some("AccessDenied".to_owned()),
        ..Finding::new(
            super::report::Kind::Scope,
            format!("{account}/management-account-not-covered"),
            super::verdict::Verdict::NonCompliant,
            format!(
                "the Organization's management account {account} is not audited: \
                 service-managed StackSets do not deploy to the management account, so it has no \
                 {role_name} role and no event rules. Cover it by deploying member-roles.yaml \
                 there as a stack (us-east-1, CAPABILITY_NAMED_IAM, the StackSet's parameters) and \
                 member-events.yaml in each audited region (docs/deploy.md, \"The management \
                 account\"); until then its IAM users' keys and its KMS keys are not audited"
            ),
        )
    }
}
