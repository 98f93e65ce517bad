//! Test harness: a real moto server (started by `scripts/with-moto.sh`, signatures checked)
//! and a player of Secrets Manager's side of a rotation.
#![allow(dead_code)]

pub mod capture;
pub mod proxy;

#[path = "../support/clock.rs"]
pub mod clock;
#[path = "../support/notifications.rs"]
pub mod notifications;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_key_rotation::aws::iam::AccessKey;
use aws_key_rotation::aws::Clients;
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::rotation::error::RotationError;
use aws_key_rotation::rotation::event::Step;
use aws_key_rotation::rotation::Rotator;
use aws_sdk_sts::config::Credentials;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const ACCOUNT: &str = "123456789012";
/// What moto needs to refuse RotateSecret after recording the pending version.
const UNKNOWN_LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:not-deployed";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `make test` or `scripts/with-moto.sh cargo nextest run`")
    })
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn uuid_like() -> String {
    let u = unique("t");
    let digits: String = format!("{:x}", md5ish(&u))
        .chars()
        .cycle()
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &digits[0..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..32]
    )
}

fn md5ish(s: &str) -> u128 {
    // FNV-1a over 128 bits: enough to make distinct tokens.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

pub fn admin_credentials() -> Credentials {
    Credentials::new(
        env("MOTO_ADMIN_ACCESS_KEY_ID"),
        env("MOTO_ADMIN_SECRET_ACCESS_KEY"),
        None,
        None,
        "moto-admin",
    )
}

pub fn sdk_config_with(credentials: Credentials) -> SdkConfig {
    sdk_config_at(&env("MOTO_ENDPOINT"), credentials)
}

pub fn sdk_config_at(endpoint: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .retry_config(aws_config::retry::RetryConfig::standard())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio sleep"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .build()
}

pub fn moto_endpoint() -> String {
    env("MOTO_ENDPOINT")
}

pub fn cross_account_role() -> String {
    env("MOTO_CROSS_ACCOUNT_ROLE_ARN")
}

/// What [`Harness::snapshot`] compares.
pub type Snapshot = (
    Vec<AccessKey>,
    Vec<(String, String)>,
    Vec<(String, Vec<String>)>,
    Option<Value>,
    Option<Value>,
);

/// Captured EMF documents.
pub type Emitted = Arc<Mutex<Vec<Value>>>;

/// Plays Secrets Manager (and an operator) against moto.
pub struct Harness {
    pub clients: Clients,
    pub emitted: Emitted,
}

impl Harness {
    pub fn new() -> Self {
        Self {
            clients: Clients::new(&sdk_config_with(admin_credentials())),
            emitted: Arc::default(),
        }
    }

    pub fn rotator(&self, config: RotationConfig) -> Rotator {
        let sink = self.emitted.clone();
        Rotator::new(self.clients.clone(), config)
            .with_metrics_sink(Arc::new(move |doc| sink.lock().unwrap().push(doc.clone())))
    }

    /// A rotator whose every AWS call goes to `endpoint` (a proxy in front of moto).
    pub fn rotator_at(&self, endpoint: &str, config: RotationConfig) -> Rotator {
        let sink = self.emitted.clone();
        Rotator::new(
            Clients::new(&sdk_config_at(endpoint, admin_credentials())),
            config,
        )
        .with_metrics_sink(Arc::new(move |doc| sink.lock().unwrap().push(doc.clone())))
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
        let clients = Clients {
            sts: aws_sdk_sts::Client::new(&sdk_config_at(&closed, admin_credentials())),
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
        &self.clients.iam
    }

    pub fn sm(&self) -> &aws_sdk_secretsmanager::Client {
        &self.clients.secrets
    }

    /// An IAM client in the cross-account role's account.
    pub async fn other_account_iam(&self) -> aws_sdk_iam::Client {
        let creds = aws_key_rotation::aws::sts::assume_role(
            &self.clients.sts,
            &cross_account_role(),
            None,
            "harness",
        )
        .await
        .expect("assume the cross-account role");
        self.clients.iam_with(creds)
    }

    pub async fn create_user(&self, iam: &aws_sdk_iam::Client, name: &str) {
        iam.create_user()
            .user_name(name)
            .send()
            .await
            .expect("create user");
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

    /// What an IAM administrator does to let a secret rotate a user's keys: the user tag
    /// `KeyRotationSecret` = `secret` (an ARN, or a name in the same account).
    pub async fn bind(&self, iam: &aws_sdk_iam::Client, user: &str, secret: &str) {
        iam.tag_user()
            .user_name(user)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(aws_key_rotation::binding::BINDING_TAG)
                    .value(secret)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("bind user");
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
        let mut tags: Vec<(String, String)> = iam
            .list_user_tags()
            .user_name(user)
            .send()
            .await
            .map(|o| {
                o.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// The secret's tags.
    pub async fn secret_tags(&self, secret: &str) -> HashMap<String, String> {
        aws_key_rotation::aws::secrets::describe(self.sm(), secret)
            .await
            .expect("describe")
            .tags
            .into_iter()
            .collect()
    }

    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        self.sm()
            .create_secret()
            .name(name)
            .secret_string(value)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("RotationType")
                    .value("iam-access-key")
                    .build(),
            )
            .send()
            .await
            .expect("create secret")
            .arn()
            .unwrap()
            .to_owned()
    }

    /// What Secrets Manager does before it calls createSecret: a version with the token, stage
    /// AWSPENDING, no value; rotation enabled. On moto, RotateSecret with a Lambda it does not
    /// know records exactly that, then answers ResourceNotFoundException.
    pub async fn start_rotation(&self, secret: &str) -> String {
        let token = uuid_like();
        let result = self
            .sm()
            .rotate_secret()
            .secret_id(secret)
            .client_request_token(&token)
            .rotation_lambda_arn(UNKNOWN_LAMBDA)
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(90)
                    .build(),
            )
            .send()
            .await;
        if let Err(e) = result {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            assert_eq!(
                e.code(),
                Some("ResourceNotFoundException"),
                "RotateSecret: {e:?}"
            );
        }
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

    /// A whole rotation as the service runs it. Returns the token.
    pub async fn rotate(&self, rotator: &Rotator, secret: &str) -> String {
        let token = self.start_rotation(secret).await;
        for step in Step::ALL {
            self.invoke(rotator, step, secret, &token)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        self.end_rotation(secret, &token).await;
        token
    }

    pub async fn versions(&self, secret: &str) -> HashMap<String, Vec<String>> {
        aws_key_rotation::aws::secrets::describe(self.sm(), secret)
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

    /// Who a key authenticates as, by STS through moto (signatures checked).
    pub async fn whoami(&self, id: &str, secret: &str) -> Result<String, String> {
        let sts = aws_sdk_sts::Client::new(&sdk_config_with(Credentials::new(
            id, secret, None, None, "probe",
        )));
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
