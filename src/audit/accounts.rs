//! Which accounts an audit covers: the function's own, or one assumed role per account
//! (`AUDIT_ROLE_ARNS`); an account that cannot be reached is an ERROR finding.

use super::report::Finding;
use super::{Auditor, Run, SESSION_NAME};
use crate::arn::Arn;
use crate::aws::error::AwsError;
use crate::aws::gate::{Gate, Lane};
use crate::aws::sts;
use aws_sdk_sts::config::Credentials;
use std::sync::Arc;
use tracing::warn;

/// An account being audited.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) id: Option<String>,
    pub(super) role: Option<String>,
    pub(super) credentials: Option<Credentials>,
}

impl Account {
    pub(super) fn label(&self) -> &str {
        self.id.as_deref().unwrap_or("own")
    }
}

impl Auditor {
    /// The function's own account id (GetCallerIdentity once, then remembered).
    pub(super) async fn own_account_id(&self, gate: &Arc<Gate>) -> Result<String, AwsError> {
        self.own_account
            .get_or_try_init(|| async {
                let lane = Lane::new(gate.clone(), "own/sts");
                let arn = lane
                    .call("sts:GetCallerIdentity", sts::caller_arn(&self.sts))
                    .await?;
                Ok(Arn::parse(&arn)
                    .and_then(|a| a.account_id())
                    .unwrap_or_default()
                    .to_owned())
            })
            .await
            .cloned()
    }
}

impl Run<'_> {
    /// The accounts to audit (for an event: the event's account, if the audit covers it), each
    /// with credentials; accounts that cannot be reached become ERROR findings.
    pub(super) async fn accounts(
        &self,
        event_account: Option<&str>,
    ) -> (Vec<Account>, Vec<Finding>) {
        let mut findings = Vec::new();
        let roles = &self.config().role_arns;
        if roles.is_empty() {
            let id = match self.auditor.own_account_id(&self.gate).await {
                Ok(id) => Some(id),
                Err(e) => {
                    warn!(error = %e, "cannot identify the function's own account");
                    findings.push(Finding::scope_error(
                        "sts:GetCallerIdentity",
                        None,
                        None,
                        format!("the function's own account cannot be identified: {e}"),
                        e.code.as_deref(),
                    ));
                    None
                }
            };
            if let (Some(event), Some(own)) = (event_account, id.as_deref()) {
                if event != own {
                    findings.push(outside(event));
                    return (Vec::new(), findings);
                }
            }
            return (
                vec![Account {
                    id,
                    role: None,
                    credentials: None,
                }],
                findings,
            );
        }
        let selected: Vec<&String> = roles
            .iter()
            .filter(|r| {
                event_account.is_none_or(|a| Arn::parse(r).and_then(|x| x.account_id()) == Some(a))
            })
            .collect();
        if selected.is_empty() {
            if let Some(a) = event_account {
                findings.push(outside(a));
            }
            return (Vec::new(), findings);
        }
        let assumed = futures::future::join_all(selected.iter().map(|role| async move {
            let id = Arn::parse(role)
                .and_then(|a| a.account_id())
                .map(str::to_owned);
            let lane = Lane::new(
                self.gate.clone(),
                &format!("{}/sts", id.as_deref().unwrap_or("?")),
            );
            let result = lane
                .call(
                    "sts:AssumeRole",
                    sts::assume_role(&self.auditor.sts, role, None, SESSION_NAME),
                )
                .await;
            (role.to_string(), id, result)
        }))
        .await;
        let mut accounts = Vec::new();
        for (role, id, result) in assumed {
            match result {
                Ok(credentials) => accounts.push(Account {
                    id,
                    role: Some(role),
                    credentials: Some(credentials),
                }),
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
        (accounts, findings)
    }
}

fn outside(account: &str) -> Finding {
    Finding::scope_error(
        "account",
        Some(account),
        None,
        format!("the event comes from account {account}, which this audit does not cover (AUDIT_ROLE_ARNS)"),
        None,
    )
}
