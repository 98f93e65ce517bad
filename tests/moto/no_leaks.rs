//! Secrets never reach a log line, an error message, a metric or a `Debug` output: a full
//! rotation and failing ones run with every log line captured at DEBUG (the most verbose level
//! the function allows in production), and neither SecretAccessKey nor RotationToken appears.

use crate::common::capture::{assert_no_secret, Captured};
use crate::common::rotation::*;
use crate::common::*;
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::rotation::event::Step;
use lambda_runtime::tracing::subscriber;
use serde_json::json;

#[tokio::test]
async fn no_secret_in_logs_errors_or_metrics() {
    let captured = Captured::default();
    let _guard = lambda_runtime::tracing::subscriber::util::SubscriberInitExt::set_default(
        captured.subscriber(),
    );

    let h = Harness::new();
    let cfg = RotationConfig {
        test_timeout: std::time::Duration::from_secs(2),
        ..RotationConfig::default()
    };
    let rotator = h.rotator(cfg);
    let mut secrets: Vec<String> = Vec::new();
    let mut errors = String::new();
    let rotation_token = format!("rotation-token-{}", unique("rt"));
    secrets.push(rotation_token.clone());

    // A full rotation, every event carrying a RotationToken.
    let user = unique("leak");
    let (secret, _, old_secret) = h
        .user_with_secret(&user, json!({"DbPassword": "pw-not-ours-123456"}))
        .await;
    secrets.push(old_secret);
    secrets.push("pw-not-ours-123456".into());
    let token = h.start_rotation(&secret).await;
    for step in Step::ALL {
        let event = json!({"Step": step.as_str(), "SecretId": secret, "ClientRequestToken": token, "RotationToken": rotation_token});
        rotator.handle(event.clone(), 0).await.unwrap();
        // Retries too.
        rotator.handle(event, 0).await.unwrap();
    }
    h.end_rotation(&secret, &token).await;
    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    secrets.push(cur["SecretAccessKey"].as_str().unwrap().to_owned());

    // A malformed secret that still contains a key.
    let broken = h
        .create_secret(
            &unique("broken"),
            r#"{"UserName":"x","SecretAccessKey":"LEAKYBROKENVALUE0000000000"#,
        )
        .await;
    secrets.push("LEAKYBROKENVALUE0000000000".into());
    let t = h.start_rotation(&broken).await;
    errors += &h
        .invoke(&rotator, Step::CreateSecret, &broken, &t)
        .await
        .unwrap_err()
        .to_string();

    // A pending key whose secret is wrong: STS refuses every signature until testSecret gives up.
    let user2 = unique("leak2");
    let (secret2, id2, _) = h.user_with_secret(&user2, json!({})).await;
    let t2 = h.start_rotation(&secret2).await;
    let wrong = "WRONGSECRETVALUEwrongsecretvalue00000000";
    secrets.push(wrong.into());
    let claim = json!({"UserName": user2, "AccessKeyId": id2, "SecretAccessKey": wrong});
    h.put_version(&secret2, Some(&t2), &claim.to_string(), Some("AWSPENDING"))
        .await;
    let err = h
        .invoke(&rotator, Step::TestSecret, &secret2, &t2)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.TestTimeout", "{err}");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
    errors += &format!("{err} {err:?}");

    // An unknown step carrying a token.
    let e = rotator
        .handle(json!({"Step": "bogus", "SecretId": secret, "ClientRequestToken": token, "RotationToken": rotation_token}), 0)
        .await
        .unwrap_err();
    errors += &format!("{e} {e:?}");

    let logs = captured.text();
    let metrics = serde_json::to_string(&h.take_emitted()).unwrap();
    let lines = logs.lines().count();
    assert!(
        lines >= 20,
        "expected the rotation's log lines, got {lines}"
    );
    assert!(
        logs.contains("stored new key as AWSPENDING")
            && logs.contains("pending key authenticates as the user")
    );
    assert_no_secret("the logs", &logs, &secrets);
    assert_no_secret("the errors", &errors, &secrets);
    assert_no_secret("the metrics", &metrics, &secrets);
    println!(
        "leak check: {lines} log lines, {} error bytes, {} secrets checked",
        errors.len(),
        secrets.len()
    );
}

#[tokio::test]
async fn a_crafted_secret_id_cannot_forge_a_log_line() {
    let captured = Captured::default();
    let sub = subscriber::fmt()
        .with_env_filter(aws_key_rotation::logging::filter_for(Some("debug")))
        .with_writer(captured.clone())
        .finish();
    let _guard = lambda_runtime::tracing::subscriber::util::SubscriberInitExt::set_default(sub);
    let h = Harness::new();
    let forged = "nope\n{\"level\":\"INFO\",\"message\":\"rotation complete\"}";
    let err = h
        .rotator(RotationConfig::default())
        .handle(json!({"Step": "createSecret", "SecretId": forged, "ClientRequestToken": "t\r\nINFO forged"}), 0)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.SecretNotFound");
    let logs = captured.text();
    assert!(!logs.is_empty());
    for line in logs.lines() {
        assert!(
            !line.starts_with("{\"level\"") && !line.starts_with("INFO forged"),
            "forged line: {line}"
        );
    }
    assert!(!err.to_string().contains('\n'));
}
