//! The HTTPS client every SDK client shares: rustls with Mozilla's root CAs compiled in, plus the
//! CAs of `SSL_CERT_FILE` and `SSL_CERT_DIR` when they are set.
//!
//! The SDK's default client reads the host's CA store through rustls-native-certs when a client
//! is built: on a host with a hashed certificate directory (`/etc/ssl/certs`) that is the bundle
//! plus a file per CA, opened and parsed at every cold start, and each SDK client then gets its
//! own HTTP client, TLS configuration and connection pool. Here the trust store is built once,
//! at start-up, without file I/O unless the user asks for it:
//! - Mozilla's root program (the `webpki-root-certs` crate: the set Firefox, curl and most Linux
//!   distributions ship, and the one that carries Amazon Trust Services' roots), fixed when the
//!   binary is built: a rebuild picks up Mozilla's additions and removals;
//! - **added** to it, not in its place: every certificate of the PEM file `SSL_CERT_FILE` and of
//!   the files in the directories of `SSL_CERT_DIR` (`:`-separated; a directory that does not
//!   exist is skipped, as OpenSSL does). This is how a corporate or private CA is trusted.
//!
//! Verification is the SDK's own, unchanged: rustls with aws-lc checks the chain up to one of
//! these roots and the host name, with the SDK's cipher suites and its proxy variables
//! (`HTTPS_PROXY`, `NO_PROXY`…). An `SSL_CERT_FILE` that cannot be read, holds no certificate
//! or holds one rustls cannot use as a root fails start-up with the path and the reason, rather
//! than leaving a root silently missing until the first handshake.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rustls_pki_types::CertificateDer;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Why the HTTPS client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    /// A CA file or directory the user named cannot be trusted as given.
    #[error("{var}={}: {reason}", path.display())]
    Unusable {
        var: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS configuration")]
    Tls(#[source] aws_smithy_http_client::HttpClientError),
}

/// The SDK configuration of a Lambda (`aws_config::load_from_env`), whose clients share one
/// HTTPS client over Mozilla's roots and those of `SSL_CERT_FILE` / `SSL_CERT_DIR`.
///
/// The TLS configuration its clients will ask for (by their timeouts) is built here, once, at
/// start-up, as the SDK's own client does per client, so that no invocation pays for it.
pub async fn sdk_config() -> Result<SdkConfig, TrustStoreError> {
    let client = TlsHttpClient::new(&Roots::from_env()?)?;
    Ok(load_config(client, aws_config::defaults(BehaviorVersion::latest())).await)
}

async fn load_config(client: TlsHttpClient, loader: ConfigLoader) -> SdkConfig {
    let config = loader.http_client(client.clone()).load().await;
    let timeouts = config.timeout_config();
    let mut settings = HttpConnectorSettings::builder();
    settings.set_connect_timeout(timeouts.and_then(|t| t.connect_timeout()));
    settings.set_read_timeout(timeouts.and_then(|t| t.read_timeout()));
    client.connector(&settings.build(), config.sleep_impl());
    config
}

/// The shared HTTPS client over Mozilla's roots and those of `SSL_CERT_FILE` / `SSL_CERT_DIR`.
pub fn http_client() -> Result<SharedHttpClient, TrustStoreError> {
    Roots::from_env()?.http_client()
}

/// The root certificates the client trusts: Mozilla's, and the user's on top.
#[derive(Clone, Debug, Default)]
pub struct Roots {
    added: Vec<CertificateDer<'static>>,
}

impl Roots {
    /// Mozilla's roots plus the certificates named by `SSL_CERT_FILE` and `SSL_CERT_DIR`.
    pub fn from_env() -> Result<Self, TrustStoreError> {
        let file = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty());
        let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
            .map(|d| {
                std::env::split_paths(&d)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Self::with_paths(file.as_deref().map(Path::new), &dirs)
    }

    /// Mozilla's roots plus every certificate of the PEM `file` and of the files in `dirs`.
    pub fn with_paths(file: Option<&Path>, dirs: &[PathBuf]) -> Result<Self, TrustStoreError> {
        let mut roots = Self::default();
        if let Some(file) = file {
            let found = load("SSL_CERT_FILE", file, Some(file), None)?;
            if found.is_empty() {
                return Err(TrustStoreError::Unusable {
                    var: "SSL_CERT_FILE",
                    path: file.to_owned(),
                    reason: "no PEM certificate in the file".into(),
                });
            }
            roots.add(found);
        }
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            roots.add(load("SSL_CERT_DIR", dir, None, Some(dir))?);
        }
        Ok(roots)
    }

    /// The certificates added to Mozilla's set (those it already holds are not repeated).
    pub fn added(&self) -> &[CertificateDer<'static>] {
        &self.added
    }

    /// The shared HTTPS client trusting these roots.
    pub fn http_client(&self) -> Result<SharedHttpClient, TrustStoreError> {
        Ok(SharedHttpClient::new(TlsHttpClient::new(self)?))
    }

    fn add(&mut self, found: Vec<CertificateDer<'static>>) {
        let known: HashSet<&[u8]> = mozilla()
            .iter()
            .chain(&self.added)
            .map(|c| c.as_ref())
            .collect();
        let new: Vec<_> = found
            .into_iter()
            .filter(|c| !known.contains(c.as_ref()))
            .collect();
        self.added.extend(new);
    }

    /// Every root as one PEM document, the form the SDK's trust store takes.
    fn pem(&self) -> Vec<u8> {
        let mut pem = Vec::with_capacity(256 * 1024);
        for cert in mozilla().iter().chain(&self.added) {
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            pem.extend_from_slice(aws_smithy_types::base64::encode(cert).as_bytes());
            pem.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
        }
        pem
    }
}

fn mozilla() -> &'static [CertificateDer<'static>] {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
}

/// The certificates of `file` or of the files in `dir`, each checked to be usable as a root
/// (the SDK's client would otherwise panic on it when it builds its TLS configuration).
fn load(
    var: &'static str,
    path: &Path,
    file: Option<&Path>,
    dir: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, TrustStoreError> {
    let error = |reason: String| TrustStoreError::Unusable {
        var,
        path: path.to_owned(),
        reason,
    };
    let found = rustls_native_certs::load_certs_from_paths(file, dir);
    if let Some(e) = found.errors.first() {
        return Err(error(e.to_string()));
    }
    for cert in &found.certs {
        webpki::anchor_from_trusted_cert(cert)
            .map_err(|e| error(format!("a certificate cannot be used as a CA root: {e}")))?;
    }
    Ok(found.certs)
}

/// One connector (TLS configuration and connection pool) per timeout setting, shared by every
/// SDK client of the [`SdkConfig`]. Clones share the connectors.
#[derive(Clone, Debug)]
struct TlsHttpClient {
    tls: TlsContext,
    connectors: Arc<RwLock<HashMap<Timeouts, SharedHttpConnector>>>,
}

/// Connect and read timeouts: what tells one connector from another.
type Timeouts = (Option<Duration>, Option<Duration>);

impl TlsHttpClient {
    fn new(roots: &Roots) -> Result<Self, TrustStoreError> {
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(roots.pem());
        let tls = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(TrustStoreError::Tls)?;
        Ok(Self {
            tls,
            connectors: Arc::default(),
        })
    }

    /// The connector for `settings`, built on first use: the SDK's hyper client with rustls
    /// (aws-lc), these roots and the proxy variables, as the SDK's default client has.
    fn connector(
        &self,
        settings: &HttpConnectorSettings,
        sleep: Option<SharedAsyncSleep>,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let cached = self
            .connectors
            .read()
            .ok()
            .and_then(|c| c.get(&key).cloned());
        if let Some(connector) = cached {
            return connector;
        }
        let mut connectors = self.connectors.write().unwrap_or_else(|e| e.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                let mut builder = ConnectorBuilder::default()
                    .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                    .tls_context(self.tls.clone());
                builder.set_connector_settings(Some(settings.clone()));
                builder.set_sleep_impl(sleep);
                builder.set_proxy_config(Some(ProxyConfig::from_env()));
                SharedHttpConnector::new(builder.build())
            })
            .clone()
    }

    /// The timeouts of the connectors built so far (tests).
    #[cfg(test)]
    fn built(&self) -> Vec<Timeouts> {
        let connectors = self.connectors.read().unwrap_or_else(|e| e.into_inner());
        connectors.keys().copied().collect()
    }
}

impl HttpClient for TlsHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector(settings, components.sleep_impl())
    }

    // No `validate_base_client_config`: the SDK's client builds (and drops) a connector there,
    // at each client's construction, only to read the host's CA store early. These roots were
    // read and checked by `Roots` before any client exists, and `sdk_config` builds the one
    // connector the clients use.

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    /// A fresh directory for one test's files.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tls-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn pem_count(roots: &Roots) -> usize {
        CertificateDer::pem_slice_iter(&roots.pem())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .len()
    }

    fn unusable(result: Result<Roots, TrustStoreError>) -> (&'static str, PathBuf, String) {
        match result {
            Err(TrustStoreError::Unusable { var, path, reason }) => (var, path, reason),
            other => panic!("expected an unusable trust store, got {other:?}"),
        }
    }

    #[test]
    fn without_variables_the_roots_are_mozillas_and_no_file_is_read() {
        let roots = Roots::with_paths(None, &[]).unwrap();
        assert!(roots.added().is_empty());
        assert!(mozilla().len() > 100, "{} roots", mozilla().len());
        assert_eq!(pem_count(&roots), mozilla().len());
        // AWS endpoints chain up to Amazon Trust Services' roots.
        let amazon = mozilla()
            .iter()
            .filter(|c| c.windows(14).any(|w| w == b"Amazon Root CA"))
            .count();
        assert!(amazon >= 4, "{amazon} Amazon roots");
    }

    #[test]
    fn the_ca_of_ssl_cert_file_is_added_to_mozillas_roots() {
        let roots = Roots::with_paths(Some(&fixture("ca.pem")), &[]).unwrap();
        let ca = CertificateDer::from_pem_file(fixture("ca.pem")).unwrap();
        assert_eq!(roots.added(), [ca]);
        assert_eq!(pem_count(&roots), mozilla().len() + 1);
    }

    #[test]
    fn a_ca_mozilla_already_has_is_not_added_twice() {
        let dir = scratch("dup");
        let file = dir.join("bundle.pem");
        let mut pem = std::fs::read(fixture("ca.pem")).unwrap();
        pem.extend(Roots::default().pem());
        std::fs::write(&file, pem).unwrap();
        let roots = Roots::with_paths(Some(&file), &[]).unwrap();
        assert_eq!(roots.added().len(), 1);
    }

    #[test]
    fn the_cas_of_ssl_cert_dir_are_added_and_a_missing_directory_is_skipped() {
        let dir = scratch("dir");
        std::fs::copy(fixture("ca.pem"), dir.join("5f1c2a3b.0")).unwrap();
        std::fs::write(dir.join("README"), "not a certificate").unwrap();
        let missing = dir.join("missing");
        let roots = Roots::with_paths(None, &[missing, dir]).unwrap();
        assert_eq!(roots.added().len(), 1);
    }

    #[test]
    fn a_malformed_ssl_cert_file_fails_start_up_naming_the_file() {
        let dir = scratch("malformed");
        let file = dir.join("corp-ca.pem");
        std::fs::write(
            &file,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let result = Roots::with_paths(Some(&file), &[]);
        let message = result.as_ref().unwrap_err().to_string();
        let (var, path, _) = unusable(result);
        assert_eq!((var, path), ("SSL_CERT_FILE", file.clone()));
        assert!(
            message.starts_with(&format!("SSL_CERT_FILE={}: ", file.display())),
            "{message}"
        );
    }

    #[test]
    fn an_ssl_cert_file_that_is_missing_or_holds_no_certificate_fails_start_up() {
        let dir = scratch("empty");
        let (_, _, reason) = unusable(Roots::with_paths(Some(&dir.join("nope.pem")), &[]));
        assert!(reason.contains("No such file"), "{reason}");
        let file = dir.join("key-only.pem");
        std::fs::copy(fixture("server.key"), &file).unwrap();
        let (_, _, reason) = unusable(Roots::with_paths(Some(&file), &[]));
        assert_eq!(reason, "no PEM certificate in the file");
    }

    #[test]
    fn a_certificate_section_that_is_not_a_certificate_fails_start_up() {
        let dir = scratch("garbage");
        let file = dir.join("ca.pem");
        let body = aws_smithy_types::base64::encode(b"certainly not DER");
        std::fs::write(
            &file,
            format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"),
        )
        .unwrap();
        let (var, _, reason) = unusable(Roots::with_paths(Some(&file), &[]));
        assert_eq!(var, "SSL_CERT_FILE");
        assert!(reason.contains("cannot be used as a CA root"), "{reason}");
    }

    #[tokio::test]
    async fn clients_use_the_connector_built_at_start_up_and_share_it() {
        // A port nothing listens on: each call asks the client for its connector, then fails to
        // connect. (tests/mocks/tls_trust.rs proves calls through this client over TLS.)
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let client = TlsHttpClient::new(&Roots::default()).unwrap();
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .credentials_provider(aws_sdk_sts::config::Credentials::for_tests());
        let config = load_config(client.clone(), loader).await;
        let at_start = client.built();
        assert_eq!(at_start.len(), 1, "one connector, built before any client");

        for sts in [
            aws_sdk_sts::Client::new(&config),
            aws_sdk_sts::Client::new(&config),
        ] {
            let error = sts.get_caller_identity().send().await.unwrap_err();
            assert!(
                matches!(
                    error,
                    aws_smithy_runtime_api::client::result::SdkError::DispatchFailure(_)
                ),
                "{error:?}"
            );
        }
        assert_eq!(client.built(), at_start, "no connector built by the calls");
    }
}
