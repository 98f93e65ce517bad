//! One secret as a rotation step or an operator action sees it: reading its versions, reaching
//! its IAM user through the binding check, and recording key ids in its tags.

use super::kept::VersionValues;
use crate::arn::Arn;
use crate::aws::iam::{AccessKey, Iam, UserInfo};
use crate::aws::secrets::{SecretMeta, SecretValue};
use crate::aws::RotationAws;
use crate::binding::{self, Binding, BINDING_TAG};
use crate::rotation::error::ErrorKind;
use crate::secret::{AccessKeySecret, SecretFormatError};
use secrecy::ExposeSecret;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

/// IAM clients of key-writer sessions, one per secret and role, reused while the container
/// lives and the credentials are valid: one AssumeRole per rotation, not per step.
///
/// Also the values of the secret versions this container stored or read by id
/// ([`VersionValues`]): set, test and finish read the pending value createSecret stored.
#[derive(Default)]
pub struct Sessions {
    cached: Mutex<HashMap<SessionKey, (Iam, Option<SystemTime>)>>,
    values: VersionValues,
}

/// (secret ARN, role ARN).
type SessionKey = (String, String);

/// A session is not reused this close to its expiry: longer than any step runs before its last
/// IAM call (testSecret's wait comes after them).
const SESSION_MARGIN: Duration = Duration::from_secs(300);

impl Sessions {
    fn get(&self, key: &SessionKey) -> Option<Iam> {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let (iam, expiry) = cached.get(key)?;
        let fresh = expiry.is_none_or(|at| at > SystemTime::now() + SESSION_MARGIN);
        fresh.then(|| iam.clone())
    }

    fn put(&self, key: SessionKey, iam: Iam, expiry: Option<SystemTime>) {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        cached.retain(|_, (_, at)| at.is_none_or(|at| at > SystemTime::now()));
        cached.insert(key, (iam, expiry));
    }
}

pub(crate) struct Scope<'a> {
    pub aws: &'a RotationAws,
    /// `KEY_WRITER_ROLE_ARN`, when configured.
    pub key_writer: Option<&'a str>,
    pub sessions: &'a Sessions,
    pub meta: &'a SecretMeta,
    /// The step or action, for logs.
    pub what: &'a str,
    /// What names the role session (the rotation token, or the action).
    pub session: &'a str,
}

impl Scope<'_> {
    pub fn arn(&self) -> &str {
        &self.meta.arn
    }

    /// The parsed value of a version (by id, stage or both); `Ok(None)` when it has none.
    pub async fn read(
        &self,
        version: Option<&str>,
        stage: &'static str,
    ) -> Result<Option<AccessKeySecret>, ErrorKind> {
        // A version's value never changes: one this container holds is not read again, if the
        // guard's fresh read shows the version still carrying the stage.
        let kept = version
            .filter(|v| self.has_stage(v, stage))
            .and_then(|v| self.sessions.values.get(self.arn(), v));
        let value = match kept {
            Some(text) => Some(SecretValue::Text(text)),
            None => {
                let value = self
                    .aws
                    .secrets
                    .get_value(self.arn(), version, Some(stage))
                    .await?;
                if let (Some(v), Some(SecretValue::Text(text))) = (version, &value) {
                    self.sessions.values.put(self.arn(), v, text);
                }
                value
            }
        };
        let invalid = |source| ErrorKind::InvalidSecret { stage, source };
        match value {
            None => Ok(None),
            Some(SecretValue::Binary) => Err(invalid(SecretFormatError::Binary)),
            Some(SecretValue::Text(text)) => AccessKeySecret::parse(text.expose_secret())
                .map(Some)
                .map_err(invalid),
        }
    }

    /// Whether the guard's read shows `version` carrying `stage`.
    fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.meta
            .versions
            .get(version)
            .is_some_and(|stages| stages.iter().any(|s| s == stage))
    }

    /// Keeps the value this step stored under `version`, for the next steps of the rotation.
    pub fn stored(&self, version: &str, value: &secrecy::SecretString) {
        self.sessions.values.put(self.arn(), version, value);
    }

    /// The IAM client for the secret's user: a session of the secret's `RoleArn` (a member
    /// account's rotator role) or of `KEY_WRITER_ROLE_ARN`, tagged `KeyRotationSecret=<this
    /// secret's ARN>`, so IAM itself allows key writes only on the user bound to this secret.
    /// Without either (local runs), the function's own credentials.
    pub async fn iam_for(&self, secret: &AccessKeySecret) -> Result<Iam, ErrorKind> {
        let (role, external_id) = match (&secret.role_arn, self.key_writer) {
            (Some(role), _) => (role.as_str(), secret.external_id.as_deref()),
            (None, Some(writer)) => (writer, None),
            (None, None) => return Ok(self.aws.iam.clone()),
        };
        if !Arn::parse(role).is_some_and(|a| a.is_iam_role()) {
            return Err(ErrorKind::InvalidRoleArn(role.to_owned()));
        }
        let key = (self.arn().to_owned(), role.to_owned());
        if let Some(iam) = self.sessions.get(&key) {
            return Ok(iam);
        }
        let session = session_name(self.session);
        let session = self
            .aws
            .sts
            .assume_role_tagged(role, external_id, &session, &[(BINDING_TAG, self.arn())])
            .await
            .map_err(|source| ErrorKind::AssumeRole {
                role: role.to_owned(),
                source,
            })?;
        info!(secret_id = %self.arn(), step = %self.what, role_arn = %role,
              "assumed role for IAM calls, session tagged with the secret's ARN");
        let expiry = session.expiry();
        let iam = self.aws.iam.in_session(&session);
        self.sessions.put(key, iam.clone(), expiry);
        Ok(iam)
    }

    /// The secret's IAM user, once it is shown to be bound to this secret (the user tag
    /// `KeyRotationSecret`); every IAM read or write of a step goes through it.
    pub async fn bound_user(&self, secret: &AccessKeySecret) -> Result<BoundUser, ErrorKind> {
        let iam = self.iam_for(secret).await?;
        let info = iam.get_user(&secret.user_name).await.map_err(|source| {
            if source.code_is("NoSuchEntity") {
                ErrorKind::UserNotFound {
                    user: secret.user_name.clone(),
                    source,
                }
            } else {
                ErrorKind::Aws(source)
            }
        })?;
        let tag = info.tag(BINDING_TAG);
        let how = binding::binding(tag, self.arn(), &self.meta.name);
        if how != Binding::Bound {
            return Err(ErrorKind::UserNotBound {
                user: info.arn.clone(),
                secret: self.arn().to_owned(),
                tag: BINDING_TAG,
                found: tag.map(str::to_owned),
                binding: how,
            });
        }
        Ok(BoundUser { iam, info })
    }

    /// The key ids the versions of this secret name, deprecated versions included, except
    /// `skip`. Versions whose value is not an access-key secret name nothing.
    pub async fn version_keys(&self, skip: Option<&str>) -> Result<HashSet<String>, ErrorKind> {
        let versions = self.aws.secrets.list_versions(self.arn()).await?;
        let mut keys = HashSet::new();
        for (version, _) in versions.iter().filter(|(v, _)| Some(v.as_str()) != skip) {
            let value = self
                .aws
                .secrets
                .get_value(self.arn(), Some(version), None)
                .await?;
            if let Some(SecretValue::Text(text)) = value {
                if let Some(id) = AccessKeySecret::parse(text.expose_secret())
                    .ok()
                    .and_then(|s| s.access_key_id)
                {
                    keys.insert(id);
                }
            }
        }
        Ok(keys)
    }

    /// Whether the secret holds the secret access key of its own `AccessKeyId`: the key signs an
    /// STS GetCallerIdentity that answers as `user_arn`. One attempt, no retries; any failure
    /// proves nothing.
    pub async fn proves_possession(&self, secret: &AccessKeySecret, user_arn: &str) -> bool {
        let (Some(id), Some(key)) = (secret.access_key_id.as_deref(), secret.secret_access_key())
        else {
            return false;
        };
        let identity = self
            .aws
            .sts
            .identity_of(id, key, Duration::from_secs(10))
            .await;
        match identity {
            Ok(arn) if arn.eq_ignore_ascii_case(user_arn) => true,
            Ok(arn) => {
                warn!(secret_id = %self.arn(), step = %self.what, key_id = %id, identity = %arn,
                      user = %user_arn, "the secret's key authenticates as someone else: it is not the secret's own");
                false
            }
            Err(e) => {
                info!(secret_id = %self.arn(), step = %self.what, key_id = %id, error = %e,
                      "the secret's key could not prove possession");
                false
            }
        }
    }

    /// Records key ids in the secret's tags, where the audit reads them without reading the
    /// value. Tags are the audit's hints only, so a failure is logged, never fatal.
    pub async fn record_tags(&self, set: &[(&str, &str)], remove: &[&str]) {
        if !set.is_empty() {
            if let Err(e) = self.aws.secrets.tag(self.arn(), set).await {
                self.warn_best_effort("recording the key ids in the secret's tags", &e);
            }
        }
        if !remove.is_empty() {
            if let Err(e) = self.aws.secrets.untag(self.arn(), remove).await {
                self.warn_best_effort("removing key ids from the secret's tags", &e);
            }
        }
    }

    pub fn warn_best_effort(&self, what: &str, err: &crate::aws::error::AwsError) {
        warn!(secret_id = %self.arn(), step = %self.what, error = %err, "{what} failed; continuing");
    }
}

/// An IAM user bound to the secret being rotated, and the client that reaches it.
pub(crate) struct BoundUser {
    pub iam: Iam,
    pub info: UserInfo,
}

impl BoundUser {
    /// The user's name as IAM spells it.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The keys the rotator recorded as created for the binding to `secret_arn`.
    pub fn own_keys(&self, secret_arn: &str) -> HashSet<String> {
        binding::own_keys(self.info.tag(binding::OWN_KEYS_TAG), secret_arn)
            .into_iter()
            .collect()
    }

    /// The intent tag, when it is this `token`'s.
    pub fn intent_of(&self, token: &str) -> Option<super::intent::Intent> {
        self.info
            .tag(super::intent::INTENT_TAG)
            .and_then(super::intent::Intent::from_tag_value)
            .filter(|i| i.is_for(token))
    }

    /// The [`binding::OWN_KEYS_TAG`] entry for the binding to `secret_arn`: the keys of `keys`
    /// that `keep` holds, in IAM's order, then `new`.
    pub fn own_keys_record(
        secret_arn: &str,
        keys: &[AccessKey],
        keep: impl Fn(&str) -> bool,
        new: Option<&str>,
    ) -> (&'static str, String) {
        let mut record: Vec<String> = keys
            .iter()
            .filter(|k| keep(&k.id))
            .map(|k| k.id.clone())
            .collect();
        record.extend(new.map(str::to_owned));
        (
            binding::OWN_KEYS_TAG,
            binding::own_keys_value(secret_arn, &record),
        )
    }

    /// The user tag `KeyRotationDeleteOtherKeys=true`, set by an IAM administrator: make room
    /// by deleting every key but the current one.
    pub fn delete_other_keys(&self) -> bool {
        self.info
            .tag(binding::DELETE_OTHER_KEYS_TAG)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// The user's access keys.
    pub async fn keys(&self) -> Result<Vec<AccessKey>, ErrorKind> {
        self.iam.list_keys(self.name()).await.map_err(|source| {
            if source.code_is("NoSuchEntity") {
                ErrorKind::UserNotFound {
                    user: self.name().to_owned(),
                    source,
                }
            } else {
                ErrorKind::Aws(source)
            }
        })
    }
}

/// `key-rotation-<token>`, limited to what RoleSessionName allows.
fn session_name(token: &str) -> String {
    let clean: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-".contains(*c))
        .take(51)
        .collect();
    format!("key-rotation-{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_valid() {
        let s = session_name("0b1c2d3e-0000-4000-8000-00000000000f plus/junk!");
        assert!(s.len() <= 64);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)));
    }
}
