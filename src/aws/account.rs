//! AWS Account Management: the regions enabled in an account (ListRegions), for an audit of
//! every enabled region.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_account::types::RegionOptStatus;
use aws_sdk_account::Client;

/// An Account Management client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct Account {
    client: Client,
    lane: Lane,
}

impl Account {
    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    /// The regions enabled in the client's account: those enabled by default and those opted in.
    pub async fn enabled_regions(&self) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .client
            .list_regions()
            .region_opt_status_contains(RegionOptStatus::Enabled)
            .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
            .into_paginator()
            .send();
        let mut regions = Vec::new();
        while let Some(page) = self
            .lane
            .next_page("account:ListRegions", pages.next())
            .await
        {
            regions.extend(
                page?
                    .regions()
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
}
