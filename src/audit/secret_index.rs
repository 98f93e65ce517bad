//! The secret index: which keys the account's rotation secrets hold, across the audited
//! regions, from the secrets' tags (ListSecrets; no secret value is read).

use super::context::{Account, Ctx};
use super::report::Finding;
use super::verdict::iam::SecretIndex;
use crate::aws::secret_list::SecretFacts;
use crate::aws::Aws;

impl Ctx<'_> {
    /// Which keys the account's rotation secrets hold, across the audited regions, from the
    /// secrets' tags (ListSecrets; no secret value is read). A region whose secrets cannot be
    /// listed becomes an ERROR finding and makes the index incomplete (the sweep then deletes
    /// nothing).
    pub(super) async fn secret_index(
        &self,
        account: &Account,
        regions: &[(String, Aws)],
        findings: &mut Vec<Finding>,
    ) -> (SecretIndex, Vec<(String, SecretFacts)>) {
        let per_region =
            futures::future::join_all(regions.iter().map(|(region, aws)| async move {
                aws.secrets.rotation_secrets().await.map_err(|e| {
                    Finding::scope_error(
                        "secretsmanager:ListSecrets",
                        account.id.as_deref(),
                        Some(region),
                        format!(
                            "rotation secrets cannot be listed ({})",
                            e.code_or_message()
                        ),
                        e.code.as_deref(),
                    )
                })
            }))
            .await;
        let mut complete = true;
        let (mut refs, mut untracked, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for (region, listed) in regions.iter().map(|(r, _)| r).zip(per_region) {
            match listed {
                Ok(r) => {
                    refs.extend(r.refs);
                    untracked.extend(r.untracked);
                    all.extend(r.all.into_iter().map(|s| (region.clone(), s)));
                }
                Err(f) => {
                    complete = false;
                    findings.push(f);
                }
            }
        }
        (SecretIndex::new(refs, untracked, complete), all)
    }
}
