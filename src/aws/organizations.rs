//! The accounts of an Organization (AWS Organizations ListAccounts) and the regions enabled in
//! an account (AWS Account Management ListRegions), for an audit that covers an Organization.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_account::types::RegionOptStatus;
use aws_sdk_organizations::types::{AccountState, AccountStatus};

/// `State` replaces `Status` (deprecated, still sent): SUSPENDED, PENDING_CLOSURE and CLOSED
/// accounts cannot be audited.
fn is_active(a: &aws_sdk_organizations::types::Account) -> bool {
    match (a.state(), a.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

/// The ids of the Organization's ACTIVE accounts, in the order Organizations lists them. Needs
/// the management account or a delegated administrator.
pub async fn active_accounts(
    client: &aws_sdk_organizations::Client,
    lane: &Lane,
) -> Result<Vec<String>, AwsError> {
    let mut pages = client.list_accounts().into_paginator().send();
    let mut ids = Vec::new();
    while let Some(page) = lane.page("organizations:ListAccounts", pages.next()).await {
        let page = page.map_err(|e| AwsError::from_sdk("organizations:ListAccounts", e))?;
        ids.extend(
            page.accounts()
                .iter()
                .filter_map(|a| is_active(a).then(|| a.id().map(str::to_owned)).flatten()),
        );
    }
    Ok(ids)
}

/// Whether `account` is an ACTIVE account of the Organization (DescribeAccount); `false` for
/// an account Organizations does not know.
pub async fn is_active_member(
    client: &aws_sdk_organizations::Client,
    lane: &Lane,
    account: &str,
) -> Result<bool, AwsError> {
    let request = client.describe_account().account_id(account).send();
    match lane.send("organizations:DescribeAccount", request).await {
        Ok(out) => Ok(out.account().is_some_and(is_active)),
        Err(e) if e.code_is("AccountNotFoundException") => Ok(false),
        Err(e) => Err(e),
    }
}

/// The regions enabled in the client's account: those enabled by default and those opted in.
pub async fn enabled_regions(
    client: &aws_sdk_account::Client,
    lane: &Lane,
) -> Result<Vec<String>, AwsError> {
    let mut pages = client
        .list_regions()
        .region_opt_status_contains(RegionOptStatus::Enabled)
        .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
        .into_paginator()
        .send();
    let mut regions = Vec::new();
    while let Some(page) = lane.page("account:ListRegions", pages.next()).await {
        let page = page.map_err(|e| AwsError::from_sdk("account:ListRegions", e))?;
        regions.extend(
            page.regions()
                .iter()
                .filter(|r| {
                    matches!(
                        r.region_opt_status(),
                        Some(RegionOptStatus::Enabled | RegionOptStatus::EnabledByDefault)
                    )
                })
                .filter_map(|r| r.region_name().map(str::to_owned)),
        );
    }
    regions.sort();
    Ok(regions)
}
