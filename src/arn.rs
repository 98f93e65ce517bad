//! ARNs: `arn:partition:service:region:account:resource`, parsed once for every module.

/// The parts of an ARN, borrowed from the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    /// Empty for global services (IAM).
    pub region: &'a str,
    /// Empty for a few services (S3).
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `None` unless `arn` has all six parts with a partition, service and resource.
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut p = arn.splitn(6, ':');
        if p.next()? != "arn" {
            return None;
        }
        let partition = p.next()?;
        let service = p.next()?;
        let region = p.next()?;
        let account = p.next()?;
        let resource = p.next()?;
        (!partition.is_empty() && !service.is_empty() && !resource.is_empty()).then_some(Self {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The account, when the ARN has one.
    pub fn account_id(&self) -> Option<&'a str> {
        (!self.account.is_empty()).then_some(self.account)
    }

    /// An IAM role's ARN (`arn:<partition>:iam::<account>:role/<path/name>`).
    pub fn is_iam_role(&self) -> bool {
        self.service == "iam" && self.resource.starts_with("role/")
    }

    /// The region, when the ARN has one.
    pub fn region_name(&self) -> Option<&'a str> {
        (!self.region.is_empty()).then_some(self.region)
    }
}

/// An AWS account id: twelve digits.
pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let a = Arn::parse("arn:aws-cn:iam::123456789012:user/team/alice").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws-cn", "iam", "", "123456789012", "user/team/alice")
        );
        assert_eq!(a.region_name(), None);
        assert_eq!(a.account_id(), Some("123456789012"));
        let k = Arn::parse("arn:aws:kms:eu-west-1:1:key/abc:with:colons").unwrap();
        assert_eq!((k.region, k.resource), ("eu-west-1", "key/abc:with:colons"));
        assert!(Arn::parse("arn:aws:iam::1:role/ops/Audit")
            .unwrap()
            .is_iam_role());
        assert!(!Arn::parse("arn:aws:iam::1:user/Audit")
            .unwrap()
            .is_iam_role());
        assert!(!Arn::parse("arn:aws:sts::1:role/Audit")
            .unwrap()
            .is_iam_role());
        assert!(Arn::parse("alice").is_none());
        assert!(Arn::parse("arn:aws:iam::1:").is_none());
        assert!(Arn::parse("arn::iam::1:user/x").is_none());
    }
}
