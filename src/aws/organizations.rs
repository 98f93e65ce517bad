//! The accounts of an Organization (AWS Organizations ListAccounts, DescribeAccount), for an
//! audit that covers an Organization.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use aws_sdk_organizations::Client;

/// `State` replaces `Status` (deprecated, still sent): SUSPENDED, PENDING_CLOSURE and CLOSED
/// accounts cannot be audited.
fn is_active(a: &aws_sdk_organizations::types::Account) -> bool {
    match (a.state(), a.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

/// An Organizations client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct Organizations {
    client: Client,
    lane: Lane,
}

impl From<Client> for Organizations {
    fn from(client: Client) -> Self {
        Self::on(client, Lane::direct())
    }
}

impl Organizations {
    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    /// The same client through another lane.
    pub fn through(&self, lane: Lane) -> Self {
        Self::on(self.client.clone(), lane)
    }

    /// The ids of the Organization's ACTIVE accounts, in the order Organizations lists them.
    /// Needs the management account or a delegated administrator.
    pub async fn active_accounts(&self) -> Result<Vec<String>, AwsError> {
        let mut pages = self.client.list_accounts().into_paginator().send();
        let mut ids = Vec::new();
        while let Some(page) = self
            .lane
            .next_page("organizations:ListAccounts", pages.next())
            .await
        {
            ids.extend(
                page?
                    .accounts()
                    .iter()
                    .filter_map(|a| is_active(a).then(|| a.id().map(str::to_owned)).flatten()),
            );
        }
        Ok(ids)
    }

    /// Whether `account` is an ACTIVE account of the Organization (DescribeAccount); `false`
    /// for an account Organizations does not know.
    pub async fn is_active_member(&self, account: &str) -> Result<bool, AwsError> {
        let request = self.client.describe_account().account_id(account).send();
        match self
            .lane
            .send("organizations:DescribeAccount", request)
            .await
        {
            Ok(out) => Ok(out.account().is_some_and(is_active)),
            Err(e) if e.code_is("AccountNotFoundException") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The Organization's management account (DescribeOrganization's `MasterAccountId`).
    pub async fn management_account(&self) -> Result<Option<String>, AwsError> {
        let request = self.client.describe_organization().send();
        let out = self
            .lane
            .send("organizations:DescribeOrganization", request)
            .await?;
        Ok(out
            .organization()
            .and_then(|o| o.master_account_id())
            .map(str::to_owned))
    }
}
