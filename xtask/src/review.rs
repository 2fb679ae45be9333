//! What an operator must read in one planned change, from `terraform show -json`: why a resource is replaced
//! (the attributes Terraform cannot change in place), and what a policy change grants and revokes, statement by
//! statement, for every policy attribute (identity, trust, resource and key policies alike).

use std::collections::BTreeSet;

use serde_json::Value;

/// Attributes that hold a policy document.
const POLICY_ATTRIBUTES: [&str; 2] = ["policy", "assume_role_policy"];

/// The statements a policy change adds and removes (a changed statement is one of each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDiff {
    pub granted: Vec<String>,
    pub revoked: Vec<String>,
    /// The new document refers to something not created yet: Terraform knows it only at apply.
    pub known_after_apply: Vec<String>,
}

impl PolicyDiff {
    pub fn is_empty(&self) -> bool {
        self.granted.is_empty() && self.revoked.is_empty() && self.known_after_apply.is_empty()
    }
}

/// The review of one change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// The attributes that force a replacement (`architectures`, `ephemeral_storage[0].size`, ...).
    pub replaced_because: Vec<String>,
    pub policy: PolicyDiff,
}

/// The review of a resource change's `change` object.
pub fn of(change: &Value) -> Review {
    let replaced_because = change["replace_paths"]
        .as_array()
        .map(|paths| paths.iter().map(path).collect())
        .unwrap_or_default();
    let mut policy = PolicyDiff::default();
    for attribute in POLICY_ATTRIBUTES {
        if change["after_unknown"][attribute] == Value::Bool(true) {
            policy.known_after_apply.push(attribute.to_owned());
            continue;
        }
        let before = statements(&change["before"][attribute]);
        let after = statements(&change["after"][attribute]);
        policy.granted.extend(after.difference(&before).cloned());
        policy.revoked.extend(before.difference(&after).cloned());
    }
    Review {
        replaced_because,
        policy,
    }
}

/// An attribute path as Terraform gives it (`["ephemeral_storage", 0, "size"]`), written as people read it.
fn path(steps: &Value) -> String {
    let mut text = String::new();
    for step in steps.as_array().into_iter().flatten() {
        match step {
            Value::Number(n) => text.push_str(&format!("[{n}]")),
            Value::String(s) if text.is_empty() => text.push_str(s),
            Value::String(s) => text.push_str(&format!(".{s}")),
            other => text.push_str(&other.to_string()),
        }
    }
    text
}

/// The statements of a policy document (a JSON string), each in one normalised line, so the same statement
/// written in another order compares equal.
fn statements(document: &Value) -> BTreeSet<String> {
    let Some(text) = document.as_str() else {
        return BTreeSet::new();
    };
    let Ok(document) = serde_json::from_str::<Value>(text) else {
        return BTreeSet::from([format!("(not JSON) {text}")]);
    };
    let list = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    };
    list.iter().map(statement).collect()
}

fn statement(s: &Value) -> String {
    let words = |v: &Value| -> String {
        let mut items: Vec<String> = match v {
            Value::Array(items) => items.iter().map(text).collect(),
            Value::Null => Vec::new(),
            one => vec![text(one)],
        };
        items.sort();
        items.join(", ")
    };
    let mut line = text(&s["Effect"]);
    for (key, label) in [
        ("Principal", "for"),
        ("NotPrincipal", "except for"),
        ("Action", ""),
        ("NotAction", "all but"),
        ("Resource", "on"),
        ("NotResource", "on all but"),
    ] {
        let value = &s[key];
        if value.is_null() {
            continue;
        }
        let value = match value {
            // Principals come as {"AWS": ..., "Service": ...}.
            Value::Object(kinds) => kinds
                .iter()
                .map(|(kind, who)| format!("{kind} {}", words(who)))
                .collect::<Vec<_>>()
                .join("; "),
            other => words(other),
        };
        if label.is_empty() {
            line.push_str(&format!(" {value}"));
        } else {
            line.push_str(&format!(" {label} {value}"));
        }
    }
    if let Some(condition) = s["Condition"].as_object() {
        line.push_str(&format!(" when {}", Value::Object(condition.clone())));
    }
    line
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(statements: Value) -> Value {
        Value::String(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
    }

    #[test]
    fn a_policy_change_says_what_it_grants_and_revokes() {
        let read = json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::landing/*"});
        let put = json!({"Effect": "Allow", "Action": "s3:PutObject", "Resource": ["arn:aws:s3:::archive/*"]});
        let delete = json!({"Effect": "Allow", "Action": ["s3:DeleteObject", "s3:GetObject"], "Resource": "arn:aws:s3:::landing/*"});
        let change = json!({
            "actions": ["update"],
            "before": {"policy": policy(json!([read, put]))},
            // The same put written differently, and the read widened to delete.
            "after": {"policy": policy(json!([{"Resource": "arn:aws:s3:::archive/*", "Action": ["s3:PutObject"], "Effect": "Allow"}, delete]))},
            "after_unknown": {},
        });
        let review = of(&change);
        assert_eq!(
            review.policy.granted,
            ["Allow s3:DeleteObject, s3:GetObject on arn:aws:s3:::landing/*"]
        );
        assert_eq!(
            review.policy.revoked,
            ["Allow s3:GetObject on arn:aws:s3:::landing/*"]
        );
        assert!(review.replaced_because.is_empty());
    }

    #[test]
    fn trust_and_conditions_are_part_of_a_statement() {
        let trust = |ip: &str| {
            policy(json!({
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"IpAddress": {"aws:SourceIp": ip}},
            }))
        };
        let change = json!({
            "before": {"assume_role_policy": trust("198.51.100.0/24")},
            "after": {"assume_role_policy": trust("0.0.0.0/0")},
        });
        let review = of(&change);
        assert_eq!(
            review.policy.granted,
            [
                "Allow for AWS arn:aws:iam::111122223333:root sts:AssumeRole when {\"IpAddress\":{\"aws:SourceIp\":\"0.0.0.0/0\"}}"
            ]
        );
        assert_eq!(review.policy.revoked.len(), 1);
    }

    #[test]
    fn a_new_resource_grants_everything_and_an_unknown_policy_is_said_so() {
        let created = json!({
            "before": null,
            "after": {"policy": policy(json!({"Effect": "Deny", "NotAction": "s3:PutObject", "Resource": "*"}))},
        });
        assert_eq!(
            of(&created).policy.granted,
            ["Deny all but s3:PutObject on *"]
        );
        let unknown = json!({"before": null, "after": {}, "after_unknown": {"policy": true}});
        assert_eq!(of(&unknown).policy.known_after_apply, ["policy"]);
    }

    #[test]
    fn a_replacement_names_the_attributes_that_force_it() {
        let change = json!({
            "actions": ["delete", "create"],
            "replace_paths": [["architectures"], ["ephemeral_storage", 0, "size"]],
        });
        assert_eq!(
            of(&change).replaced_because,
            ["architectures", "ephemeral_storage[0].size"]
        );
    }
}
