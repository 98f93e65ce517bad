//! The shared HTTPS client verifies servers: a local TLS server whose certificate comes from a
//! private CA is trusted only when `SSL_CERT_FILE` names that CA, and only under its own name.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_key_rotation::aws::tls::Roots;
use aws_sdk_sts::config::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// An STS over TLS on 127.0.0.1 with a certificate for `localhost` signed by the test CA;
/// answers every request with the same identity. Returns its port.
async fn sts_over_tls() -> u16 {
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = vec![0; 16 * 1024];
                let _ = tls.read(&mut request).await;
                let body = "<GetCallerIdentityResponse><GetCallerIdentityResult>\
                    <Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDA</UserId>\
                    <Account>123456789012</Account></GetCallerIdentityResult>\
                    </GetCallerIdentityResponse>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// GetCallerIdentity at `endpoint` through the shared client over `roots`, without retries.
async fn caller_arn(roots: &Roots, endpoint: &str) -> Result<String, String> {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .http_client(roots.http_client().unwrap())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "AKIDTLS", "secret", None, None, "test",
            )),
        )
        .build();
    aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map(|out| out.arn().unwrap_or_default().to_owned())
        .map_err(|e| DisplayErrorContext(e).to_string())
}

#[tokio::test]
async fn a_server_certified_by_the_ca_of_ssl_cert_file_is_trusted() {
    let port = sts_over_tls().await;
    let roots = Roots::with_paths(Some(&fixture("ca.pem")), &[]).unwrap();
    let arn = caller_arn(&roots, &format!("https://localhost:{port}")).await;
    assert_eq!(arn.unwrap(), "arn:aws:iam::123456789012:user/alice");
}

#[tokio::test]
async fn a_server_certified_by_an_unknown_ca_is_refused() {
    let port = sts_over_tls().await;
    let mozilla_only = Roots::with_paths(None, &[]).unwrap();
    let error = caller_arn(&mozilla_only, &format!("https://localhost:{port}"))
        .await
        .unwrap_err();
    assert!(error.contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_even_from_a_trusted_ca() {
    let port = sts_over_tls().await;
    let roots = Roots::with_paths(Some(&fixture("ca.pem")), &[]).unwrap();
    // The certificate names `localhost`, not the address.
    let error = caller_arn(&roots, &format!("https://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(error.contains("NotValidForName"), "{error}");
}
