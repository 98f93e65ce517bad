//! setSecret: IAM keys are live when created, so only check that the pending key exists and is
//! Active. IAM's reads can lag a CreateAccessKey made moments earlier, so a missing key is
//! looked for again, briefly and inside the invocation's deadline, before the step fails.

use super::Invocation;
use crate::rotation::error::ErrorKind;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

const FIRST_DELAY: Duration = Duration::from_millis(250);
/// At most 250 + 500 + 1000 + 2000 ms of waiting.
const LOOKS: u32 = 5;
/// Left at the end of the invocation to report a failure.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

pub(super) async fn run(inv: &Invocation<'_>) -> Result<(), ErrorKind> {
    let pending = inv.require_pending().await?;
    let key_id = pending
        .access_key_id
        .clone()
        .ok_or(ErrorKind::IncompleteKey {
            stage: "AWSPENDING",
        })?;
    let user = inv.scope().bound_user(&pending).await?;
    let mut delay = FIRST_DELAY;
    for look in 1..=LOOKS {
        let keys = user.keys().await?;
        match keys.iter().find(|k| k.id == key_id) {
            Some(k) if !k.is_active() => {
                return Err(ErrorKind::PendingKeyInactive {
                    user: user.name().to_owned(),
                    key: key_id,
                })
            }
            Some(_) => {
                info!(secret_id = %inv.arn(), step = "setSecret", user = %user.name(),
                      key_id = %key_id, looks = look, "pending key exists and is Active");
                return Ok(());
            }
            None => {}
        }
        let in_time = inv
            .deadline
            .is_none_or(|d| Instant::now() + delay + DEADLINE_MARGIN < d);
        if look == LOOKS || !in_time {
            break;
        }
        warn!(secret_id = %inv.arn(), step = "setSecret", user = %user.name(), key_id = %key_id,
              looks = look, delay_ms = delay.as_millis() as u64,
              "pending key not listed yet; looking again");
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Err(ErrorKind::PendingKeyMissing {
        user: user.name().to_owned(),
        key: key_id,
    })
}
