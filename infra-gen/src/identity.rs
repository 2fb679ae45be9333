//! IAM roles with a trust policy and one inline policy, each a typed [`PolicyDocument`] the tests inspect.

use serde_json::json;

use crate::iam::PolicyDocument;
use crate::tf::{Block, Expr, FileWriter, Ref};

/// A role; `name` is its field in the pipeline and names the role, its policy and both documents.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: &'static str,
    pub role_name: String,
    pub description: &'static str,
    pub trust: PolicyDocument,
    pub policy: PolicyDocument,
}

impl Role {
    pub fn r(&self) -> Ref {
        Ref::resource("aws_iam_role", self.name)
    }

    pub fn arn(&self) -> Expr {
        self.r().attr("arn")
    }

    /// The inline policy: a function must not start before its permissions exist.
    pub fn policy_ref(&self) -> Ref {
        Ref::resource("aws_iam_role_policy", self.name)
    }
}

impl Block for Role {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.data(&self.trust.data_ref(), self.trust.data_body());
        f.data(&self.policy.data_ref(), self.policy.data_body());
        f.resource(
            &self.r(),
            json!({
                "name": self.role_name,
                "description": self.description,
                "assume_role_policy": self.trust.json(),
            }),
        );
        f.resource(
            &self.policy_ref(),
            json!({
                "name": self.name,
                "role": self.r().attr("id"),
                "policy": self.policy.json(),
            }),
        );
    }
}
