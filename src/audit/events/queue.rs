//! The SQS batches the audit reads: fan-out messages (one account each) and the event queue's
//! forwarded events (each key or user once per batch, bad records refused alone).

use super::*;
use aws_lambda_events::event::sqs::SqsMessage;

/// The body of a fan-out message: the account one invocation audits.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FanOutMessage {
    pub audit_account: String,
}

/// The accounts a batch of fan-out messages names. A record from another source, or a body
/// that is not a [`FanOutMessage`] with a 12-digit account id, refuses the whole batch (SQS
/// retries it, then moves it to the dead-letter queue).
pub(super) fn parse_fan_out(records: &[SqsMessage]) -> Result<Trigger, TriggerError> {
    let mut accounts = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let account = (record.event_source.as_deref() == Some("aws:sqs"))
            .then_some(record.body.as_deref())
            .flatten()
            .and_then(|b| serde_json::from_str::<FanOutMessage>(b).ok())
            .map(|m| m.audit_account)
            .filter(|a| is_account_id(a))
            .ok_or(TriggerError::NotFanOut { index })?;
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    Ok(Trigger::Accounts { accounts })
}

/// The queues whose records the audit reads: the fan-out queue (`AUDIT_FANOUT_QUEUE_URL`) and
/// the event queue (`AUDIT_EVENT_QUEUE_ARN`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Queues<'a> {
    pub fanout_queue_url: Option<&'a str>,
    pub event_queue_arn: Option<&'a str>,
}

impl Queues<'_> {
    /// Whether `arn` is the fan-out queue's (its account and name are the URL's last two
    /// segments); without a fan-out queue URL, any queue but the event queue.
    pub(super) fn is_fan_out(&self, arn: Option<&str>) -> bool {
        let Some(url) = self.fanout_queue_url else {
            return true;
        };
        let Some(arn) = arn.and_then(Arn::parse) else {
            return false;
        };
        let mut segments = url.trim_end_matches('/').rsplit('/');
        let (name, account) = (segments.next(), segments.next());
        name == Some(arn.resource) && account == Some(arn.account)
    }
}

/// A target of an event batch: one KMS key, or one IAM user, of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Key { account: String, key: KmsKeyRef },
    User { account: String, user: IamUserRef },
}

impl Target {
    pub fn account(&self) -> &str {
        match self {
            Target::Key { account, .. } | Target::User { account, .. } => account,
        }
    }

    /// What makes two targets the same resource: the account, region and key id of a key
    /// (whether the event named it by id or by ARN); the account and the user name, compared
    /// case-insensitively as IAM does, of a user.
    fn identity(&self) -> (String, String, String) {
        match self {
            Target::Key { account, key } => {
                let (account, region, id) = match Arn::parse(&key.key) {
                    Some(a) => (
                        a.account_id().unwrap_or(account),
                        a.region_name().or(key.region.as_deref()),
                        a.resource,
                    ),
                    None => (account.as_str(), key.region.as_deref(), key.key.as_str()),
                };
                let id = id.strip_prefix("key/").unwrap_or(id);
                (
                    account.to_owned(),
                    region.unwrap_or_default().to_owned(),
                    format!("key/{id}"),
                )
            }
            Target::User { account, user } => (
                account.clone(),
                String::new(),
                match user {
                    IamUserRef::Root => "root".to_owned(),
                    IamUserRef::Named(u) => format!("user/{}", u.to_lowercase()),
                },
            ),
        }
    }
}

/// A record of an event batch the audit refused: its SQS message id (when it looks like
/// one) and why. Never the body's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRecord {
    pub message_id: Option<String>,
    pub why: String,
}

/// A batch of the event queue, deduplicated: each key or user once, whatever the number of
/// events that named it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventBatch {
    /// Records in the batch.
    pub received: usize,
    /// The distinct keys and users, in the order first seen.
    pub targets: Vec<Target>,
    /// Records whose targets were all already in `targets`.
    pub duplicates: usize,
    /// Records of recognised events with nothing to audit (a failed call).
    pub nothing: usize,
    pub refused: Vec<RefusedRecord>,
}

/// An SQS message id as SQS writes it (a UUID), or nothing: it reaches findings and logs.
fn message_id(record: &SqsMessage) -> Option<String> {
    record
        .message_id
        .as_deref()
        .filter(|m| {
            !m.is_empty()
                && m.len() <= 100
                && m.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
        .map(str::to_owned)
}

/// One record of the event queue: its targets, or why it is refused.
fn parse_event_record(record: &SqsMessage, queues: &Queues<'_>) -> Result<Trigger, String> {
    let arn = record.event_source_arn.as_deref();
    if queues.event_queue_arn.is_none() || arn != queues.event_queue_arn {
        return Err(match queues.is_fan_out(arn) {
            true => "a fan-out message in a batch of the event queue; it is not read".to_owned(),
            false => "the record comes from a queue the audit does not read (neither \
                      AUDIT_EVENT_QUEUE_ARN nor AUDIT_FANOUT_QUEUE_URL)"
                .to_owned(),
        });
    }
    let body = record.body.as_deref().unwrap_or_default();
    let value: Value =
        serde_json::from_str(body).map_err(|_| "the record's body is not JSON".to_owned())?;
    if serde_json::from_value::<FanOutMessage>(value.clone()).is_ok() {
        return Err(
            "a fan-out message on the event queue: the event queue never starts a full audit"
                .to_owned(),
        );
    }
    match parse_eventbridge(&value).map_err(|e| e.to_string())? {
        Trigger::Full | Trigger::Accounts { .. } | Trigger::Events(_) => Err(
            "a scheduled event on the event queue: the event queue never starts a full audit"
                .to_owned(),
        ),
        Trigger::KmsKeys { account: None, .. } | Trigger::IamUser { account: None, .. } => {
            Err("the event names no account".to_owned())
        }
        t => Ok(t),
    }
}

/// A batch of the event queue: every record parsed as a directly delivered event is, refused
/// records set apart (they never fail the batch), the targets deduplicated.
pub(super) fn parse_event_batch(records: &[SqsMessage], queues: &Queues<'_>) -> EventBatch {
    let mut batch = EventBatch {
        received: records.len(),
        ..EventBatch::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    for record in records {
        let targets = match parse_event_record(record, queues) {
            Err(why) => {
                batch.refused.push(RefusedRecord {
                    message_id: message_id(record),
                    why,
                });
                continue;
            }
            Ok(Trigger::Nothing { cause, why }) => {
                tracing::info!(cause = %cause, why = %why, "nothing to audit");
                batch.nothing += 1;
                continue;
            }
            Ok(Trigger::KmsKeys {
                account: Some(account),
                keys,
                ..
            }) => keys
                .into_iter()
                .map(|key| Target::Key {
                    account: account.clone(),
                    key,
                })
                .collect(),
            Ok(Trigger::IamUser {
                account: Some(account),
                user,
                ..
            }) => vec![Target::User { account, user }],
            Ok(_) => Vec::new(),
        };
        let mut new = false;
        for target in targets {
            if seen.insert(target.identity()) {
                batch.targets.push(target);
                new = true;
            } else {
                tracing::debug!(target = ?target.identity(), "duplicate in the batch: audited once");
            }
        }
        if !new {
            batch.duplicates += 1;
        }
    }
    batch
}
