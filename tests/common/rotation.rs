//! The rotation side's harness: plays Secrets Manager's part of a rotation (and an
//! operator's) against a real moto server started by `scripts/with-moto.sh`.

use super::env::cross_account_role;
use super::moto::{self, admin_credentials, sdk_config, sdk_config_at};
use super::{keep_in, notifications, unique, uuid_like, Emitted};
use aws_key_rotation::aws::iam::AccessKey;
use aws_key_rotation::aws::RotationAws;
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::rotation::error::RotationError;
use aws_key_rotation::rotation::event::Step;
use aws_key_rotation::rotation::Rotator;
use aws_sdk_sts::config::Credentials;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// What [`Harness::snapshot`] compares.
pub type Snapshot = (
    Vec<AccessKey>,
    Vec<(String, String)>,
    Vec<(String, Vec<String>)>,
    Option<Value>,
    Option<Value>,
);

/// Plays Secrets Manager (and an operator) against moto.
pub struct Harness {
    pub clients: RotationAws,
    pub emitted: Emitted,
}

impl Harness {
    pub fn new() -> Self {
        Self::in_region("us-east-1")
    }

    /// Secrets Manager (and the rotator) in `region`; IAM is global.
    pub fn in_region(region: &str) -> Self {
        Self {
            clients: RotationAws::new(&sdk_config(region)),
            emitted: Arc::default(),
        }
    }

    pub fn rotator(&self, config: RotationConfig) -> Rotator {
        Rotator::new(self.clients.clone(), config).with_metrics_sink(keep_in(&self.emitted))
    }

    /// A rotator whose notifications land in the returned inbox (a topic named after `name`).
    pub async fn notifying_rotator(
        &self,
        config: RotationConfig,
        name: &str,
    ) -> (Rotator, notifications::Inbox) {
        let (notifier, inbox, _) =
            notifications::notifier_with_inbox("us-east-1", &unique(name)).await;
        (self.rotator(config).with_notifier(notifier), inbox)
    }

    /// A rotator whose every AWS call goes to `endpoint` (a proxy in front of moto).
    pub fn rotator_at(&self, endpoint: &str, config: RotationConfig) -> Rotator {
        Rotator::new(
            RotationAws::new(&sdk_config_at(endpoint, "us-east-1", admin_credentials())),
            config,
        )
        .with_metrics_sink(keep_in(&self.emitted))
    }

    /// A rotator like [`Harness::rotator`] whose STS endpoint is a closed loopback port, so
    /// testSecret fails for good (as when STS is unreachable).
    pub fn rotator_without_sts(&self, config: RotationConfig) -> Rotator {
        // A port that answers every connection by closing it. (A port merely freed again could
        // be taken by another test's listener before the rotator dials it.)
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let closed = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                drop(stream);
            }
        });
        let clients = RotationAws {
            sts: aws_sdk_sts::Client::new(&sdk_config_at(
                &closed,
                "us-east-1",
                admin_credentials(),
            ))
            .into(),
            ..self.clients.clone()
        };
        Rotator::new(clients, config)
    }

    /// A rotation that stopped for good after createSecret and setSecret (testSecret cannot
    /// reach STS), as Secrets Manager leaves it once it gives up. Returns its token.
    pub async fn stuck_rotation(&self, secret: &str, config: RotationConfig) -> String {
        let broken = self.rotator_without_sts(config);
        let token = self.start_rotation(secret).await;
        for step in [Step::CreateSecret, Step::SetSecret] {
            self.invoke(&broken, step, secret, &token)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        let err = self
            .invoke(&broken, Step::TestSecret, secret, &token)
            .await
            .expect_err("testSecret cannot reach STS");
        assert!(err.to_string().contains("sts:GetCallerIdentity"), "{err}");
        token
    }

    pub fn iam(&self) -> &aws_sdk_iam::Client {
        self.clients.iam.client()
    }

    /// PutSecretValue as a writer of the secret: `value` as a new version (token `token`, or one
    /// made by Secrets Manager), staged `stage` (or AWSCURRENT).
    pub async fn put_version(
        &self,
        secret: &str,
        token: Option<&str>,
        value: &str,
        stage: Option<&str>,
    ) {
        self.sm()
            .put_secret_value()
            .secret_id(secret)
            .set_client_request_token(token.map(str::to_owned))
            .secret_string(value)
            .set_version_stages(stage.map(|s| vec![s.to_owned()]))
            .send()
            .await
            .expect("PutSecretValue");
    }

    pub fn sm(&self) -> &aws_sdk_secretsmanager::Client {
        self.clients.secrets.client()
    }

    /// An IAM client in the cross-account role's account.
    pub async fn other_account_iam(&self) -> aws_sdk_iam::Client {
        let session = self
            .clients
            .sts
            .assume_role(&cross_account_role(), None, "harness")
            .await
            .expect("assume the cross-account role");
        self.clients.iam.in_session(&session).client().clone()
    }

    pub async fn create_user(&self, iam: &aws_sdk_iam::Client, name: &str) {
        moto::create_user(iam, name).await
    }

    /// A key as `aws iam create-access-key` prints it: (id, secret, JSON of the output).
    pub async fn create_key(
        &self,
        iam: &aws_sdk_iam::Client,
        user: &str,
    ) -> (String, String, Value) {
        let out = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .expect("create key");
        let k = out.access_key().unwrap();
        let created = k
            .create_date()
            .map(|d| aws_key_rotation::time::rfc3339(d.secs()))
            .unwrap();
        let doc = json!({
            "UserName": user,
            "AccessKeyId": k.access_key_id(),
            "Status": "Active",
            "SecretAccessKey": k.secret_access_key(),
            "CreateDate": created,
        });
        (
            k.access_key_id().to_owned(),
            k.secret_access_key().to_owned(),
            doc,
        )
    }

    /// What an IAM administrator does to let a secret rotate a user's keys.
    pub async fn bind(&self, iam: &aws_sdk_iam::Client, user: &str, secret: &str) {
        moto::bind(iam, user, secret).await
    }

    /// An IAM administrator's word that a rotation may make room by deleting every key of
    /// `user` but the current one (`KeyRotationDeleteOtherKeys=true`).
    pub async fn allow_deleting_other_keys(&self, user: &str) {
        moto::tag_user(
            self.iam(),
            user,
            aws_key_rotation::binding::DELETE_OTHER_KEYS_TAG,
            "true",
        )
        .await
    }

    pub async fn unbind(&self, iam: &aws_sdk_iam::Client, user: &str) {
        iam.untag_user()
            .user_name(user)
            .tag_keys(aws_key_rotation::binding::BINDING_TAG)
            .send()
            .await
            .expect("unbind user");
    }

    /// A user with one key, stored in a new secret the user is bound to. Returns (secret ARN,
    /// key id, key secret).
    pub async fn user_with_secret(&self, user: &str, extra: Value) -> (String, String, String) {
        let (arn, id, secret) = self.unbound_user_with_secret(user, extra).await;
        self.bind(self.iam(), user, &arn).await;
        (arn, id, secret)
    }

    /// A user with one key, stored in a new secret, without the binding.
    pub async fn unbound_user_with_secret(
        &self,
        user: &str,
        extra: Value,
    ) -> (String, String, String) {
        self.create_user(self.iam(), user).await;
        let (id, secret, mut doc) = self.create_key(self.iam(), user).await;
        if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
            d.extend(e);
        }
        let arn = self
            .create_secret(&unique(&format!("rot/{user}")), &doc.to_string())
            .await;
        (arn, id, secret)
    }

    /// The user's tags.
    pub async fn user_tags(&self, iam: &aws_sdk_iam::Client, user: &str) -> Vec<(String, String)> {
        moto::user_tags(iam, user).await
    }

    /// The secret's tags.
    pub async fn secret_tags(&self, secret: &str) -> HashMap<String, String> {
        self.clients
            .secrets
            .describe(secret)
            .await
            .expect("describe")
            .tags
            .into_iter()
            .collect()
    }

    /// A secret tagged `RotationType=iam-access-key`; returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        moto::create_secret(
            self.sm(),
            name,
            value,
            &[("RotationType", "iam-access-key")],
        )
        .await
    }

    /// What Secrets Manager does before it calls createSecret (see
    /// [`moto::rotate_towards_no_lambda`]). Returns the token.
    pub async fn start_rotation(&self, secret: &str) -> String {
        let token = uuid_like();
        moto::rotate_towards_no_lambda(self.sm(), secret, Some(&token), 90).await;
        let stages = self.versions(secret).await;
        assert_eq!(
            stages.get(&token).map(Vec::as_slice),
            Some(&["AWSPENDING".to_owned()][..])
        );
        token
    }

    pub async fn invoke(
        &self,
        rotator: &Rotator,
        step: Step,
        secret: &str,
        token: &str,
    ) -> Result<(), RotationError> {
        let event = json!({"Step": step.as_str(), "SecretId": secret, "ClientRequestToken": token});
        rotator.handle(event, 0).await
    }

    /// What Secrets Manager does after finishSecret succeeded.
    pub async fn end_rotation(&self, secret: &str, token: &str) {
        self.sm()
            .update_secret_version_stage()
            .secret_id(secret)
            .version_stage("AWSPENDING")
            .remove_from_version_id(token)
            .send()
            .await
            .expect("remove AWSPENDING");
    }

    /// The four steps for `token`, each of which must succeed, then what Secrets Manager does
    /// after finishSecret.
    pub async fn finish_rotation(&self, rotator: &Rotator, secret: &str, token: &str) {
        for step in Step::ALL {
            self.invoke(rotator, step, secret, token)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        self.end_rotation(secret, token).await;
    }

    /// A whole rotation as the service runs it. Returns the token.
    pub async fn rotate(&self, rotator: &Rotator, secret: &str) -> String {
        let token = self.start_rotation(secret).await;
        self.finish_rotation(rotator, secret, &token).await;
        token
    }

    pub async fn versions(&self, secret: &str) -> HashMap<String, Vec<String>> {
        self.clients
            .secrets
            .describe(secret)
            .await
            .expect("describe")
            .versions
    }

    pub async fn value(&self, secret: &str, stage: &str) -> Option<Value> {
        let out = self
            .sm()
            .get_secret_value()
            .secret_id(secret)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        let text = out.secret_string()?;
        Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
    }

    pub async fn current(&self, secret: &str) -> Value {
        self.value(secret, "AWSCURRENT")
            .await
            .expect("AWSCURRENT value")
    }

    pub async fn keys_of(&self, iam: &aws_sdk_iam::Client, user: &str) -> Vec<AccessKey> {
        let mut keys = aws_key_rotation::aws::iam::Iam::new(iam.clone())
            .list_keys(user)
            .await
            .expect("list keys");
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        keys
    }

    pub async fn keys(&self, user: &str) -> Vec<AccessKey> {
        self.keys_of(self.iam(), user).await
    }

    /// The ids of the user's keys, sorted.
    pub async fn key_ids(&self, user: &str) -> Vec<String> {
        self.keys(user).await.into_iter().map(|k| k.id).collect()
    }

    /// The key id the secret's `stage` holds.
    pub async fn key_id(&self, secret: &str, stage: &str) -> String {
        let value = self.value(secret, stage).await;
        let value = value.unwrap_or_else(|| panic!("no {stage} value"));
        value["AccessKeyId"]
            .as_str()
            .expect("AccessKeyId")
            .to_owned()
    }

    /// Who a key authenticates as, by STS through moto (signatures checked).
    pub async fn whoami(&self, id: &str, secret: &str) -> Result<String, String> {
        let sts = aws_sdk_sts::Client::new(&moto::sdk_config_with(
            "us-east-1",
            Credentials::new(id, secret, None, None, "probe"),
        ));
        sts.get_caller_identity()
            .send()
            .await
            .map(|o| o.arn().unwrap_or_default().to_owned())
            .map_err(|e| {
                use aws_sdk_sts::error::ProvideErrorMetadata;
                e.code().unwrap_or("unknown").to_owned()
            })
    }

    /// The state a failed call must leave untouched: the user's keys and tags, and the
    /// secret's versions with their values.
    pub async fn snapshot(&self, iam: &aws_sdk_iam::Client, user: &str, secret: &str) -> Snapshot {
        let mut versions: Vec<_> = self.versions(secret).await.into_iter().collect();
        versions.sort();
        for (_, stages) in versions.iter_mut() {
            stages.sort();
        }
        (
            self.keys_of(iam, user).await,
            self.user_tags(iam, user).await,
            versions,
            self.value(secret, "AWSCURRENT").await,
            self.value(secret, "AWSPENDING").await,
        )
    }

    pub fn take_emitted(&self) -> Vec<Value> {
        std::mem::take(&mut self.emitted.lock().unwrap())
    }

    /// The metrics document of `step` among those emitted so far (taking them all).
    pub fn emitted_by(&self, step: &str) -> Value {
        self.take_emitted()
            .into_iter()
            .find(|d| d["Step"] == step)
            .unwrap_or_else(|| panic!("no metrics of {step}"))
    }
}

/// The AWSCURRENT key must authenticate as `user` (ARN ends with `user/<name>`).
pub async fn assert_current_authenticates(
    h: &Harness,
    secret: &str,
    account: &str,
    user: &str,
) -> Value {
    let cur = h.current(secret).await;
    let arn = h
        .whoami(
            cur["AccessKeyId"].as_str().unwrap(),
            cur["SecretAccessKey"].as_str().unwrap(),
        )
        .await
        .expect("AWSCURRENT key authenticates");
    assert_eq!(arn, format!("arn:aws:iam::{account}:user/{user}"));
    cur
}

/// The rotator's settings in tests: the defaults, with testSecret giving up after `secs` seconds
/// (moto accepts a new key at once, so only a failing test waits that long).
pub fn config_with_test_timeout(secs: u64) -> aws_key_rotation::rotation::config::RotationConfig {
    aws_key_rotation::rotation::config::RotationConfig {
        test_timeout: std::time::Duration::from_secs(secs),
        ..Default::default()
    }
}

/// Key ids sorted, as [`Harness::key_ids`] gives them.
pub fn sorted<const N: usize>(ids: [&str; N]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|&id| id.to_owned()).collect();
    ids.sort();
    ids
}
