//! The variables `scripts/with-moto.sh` exports: where moto listens and who may call it.

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `make test` or `scripts/with-moto.sh cargo nextest run`")
    })
}

/// The moto server that checks signatures.
pub fn moto_endpoint() -> String {
    var("MOTO_ENDPOINT")
}

/// The moto server that checks no signature (moto refuses the signature of an SNS Publish whose
/// text has a space).
pub fn unsigned_endpoint() -> String {
    var("MOTO_UNSIGNED_ENDPOINT")
}

/// (access key id, secret access key) of moto's admin user.
pub fn admin_key() -> (String, String) {
    (
        var("MOTO_ADMIN_ACCESS_KEY_ID"),
        var("MOTO_ADMIN_SECRET_ACCESS_KEY"),
    )
}

/// A role in another account (111111111111) the admin may assume.
pub fn cross_account_role() -> String {
    var("MOTO_CROSS_ACCOUNT_ROLE_ARN")
}

/// The member accounts of moto's Organization (managed by the admin's account).
pub fn org_member_accounts() -> Vec<String> {
    var("MOTO_ORG_MEMBER_ACCOUNTS")
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// The role every member account of moto's Organization holds for the audit.
pub fn org_role_name() -> String {
    var("MOTO_ORG_ROLE_NAME")
}
