//! IAM policy documents as typed values, rendered either as an `aws_iam_policy_document` data source
//! (readable in a diff, scanned by checkov) or as a JSON template for attributes that take one inline.

use serde_json::{Value, json};

use crate::tf::{Expr, Ref};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// Who a resource policy or trust policy is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Service(String),
    Aws(Expr),
    /// Everyone; only used in Deny statements (TLS-only bucket policies).
    Anyone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub test: &'static str,
    pub variable: &'static str,
    pub values: Vec<Expr>,
}

impl Condition {
    pub fn new(test: &'static str, variable: &'static str, values: Vec<Expr>) -> Condition {
        Condition {
            test,
            variable,
            values,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: String,
    pub effect: Effect,
    pub principals: Vec<Principal>,
    pub actions: Vec<&'static str>,
    pub resources: Vec<Expr>,
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// An Allow statement for an identity policy (no principal).
    pub fn allow(
        sid: impl Into<String>,
        actions: &[&'static str],
        resources: Vec<Expr>,
    ) -> Statement {
        Statement {
            sid: sid.into(),
            effect: Effect::Allow,
            principals: Vec::new(),
            actions: actions.to_vec(),
            resources,
            conditions: Vec::new(),
        }
    }

    pub fn deny(
        sid: impl Into<String>,
        actions: &[&'static str],
        resources: Vec<Expr>,
    ) -> Statement {
        Statement {
            effect: Effect::Deny,
            ..Statement::allow(sid, actions, resources)
        }
    }

    /// Refuses, for anyone, every one of `actions` on `resources` made without TLS: how "TLS only" is written
    /// in a resource policy. It grants nothing.
    pub fn deny_insecure_transport(actions: &[&'static str], resources: Vec<Expr>) -> Statement {
        Statement::deny("DenyInsecureTransport", actions, resources)
            .principal(Principal::Anyone)
            .condition(Condition::new(
                "Bool",
                "aws:SecureTransport",
                vec![Expr::lit("false")],
            ))
    }

    pub fn principal(mut self, principal: Principal) -> Statement {
        self.principals.push(principal);
        self
    }

    pub fn condition(mut self, condition: Condition) -> Statement {
        self.conditions.push(condition);
        self
    }

    /// True when any action is a wildcard.
    pub fn has_wildcard_action(&self) -> bool {
        self.actions.iter().any(|action| action.contains('*'))
    }
}

/// A policy document; its name is the data source's name in Terraform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    pub name: String,
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(name: impl Into<String>, statements: Vec<Statement>) -> PolicyDocument {
        PolicyDocument {
            name: name.into(),
            statements,
        }
    }

    pub fn data_ref(&self) -> Ref {
        Ref::data("aws_iam_policy_document", self.name.clone())
    }

    /// The rendered JSON of the data source.
    pub fn json(&self) -> Expr {
        self.data_ref().attr("json")
    }

    /// The body of the `aws_iam_policy_document` data source.
    pub fn data_body(&self) -> Value {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut body = json!({
                    "sid": s.sid,
                    "effect": s.effect.as_str(),
                    "actions": s.actions,
                    "resources": s.resources,
                });
                if !s.principals.is_empty() {
                    body["principals"] = Value::Array(
                        s.principals
                            .iter()
                            .map(|p| match p {
                                Principal::Service(service) => {
                                    json!({"type": "Service", "identifiers": [service]})
                                }
                                Principal::Aws(arn) => json!({"type": "AWS", "identifiers": [arn]}),
                                Principal::Anyone => json!({"type": "*", "identifiers": ["*"]}),
                            })
                            .collect(),
                    );
                }
                if !s.conditions.is_empty() {
                    body["condition"] = Value::Array(
                        s.conditions
                            .iter()
                            .map(|c| json!({"test": c.test, "variable": c.variable, "values": c.values}))
                            .collect(),
                    );
                }
                body
            })
            .collect();
        json!({ "statement": statements })
    }

    /// The document as a JSON string template for an inline policy attribute (a KMS key policy, whose
    /// resource is necessarily "*", is not an identity policy and must not be scanned as one).
    pub fn inline(&self) -> Expr {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut body = serde_json::Map::new();
                body.insert("Sid".into(), json!(s.sid));
                body.insert("Effect".into(), json!(s.effect.as_str()));
                if !s.principals.is_empty() {
                    let mut principal = serde_json::Map::new();
                    for p in &s.principals {
                        let (key, value) = match p {
                            Principal::Service(service) => ("Service", json!(service)),
                            Principal::Aws(arn) => ("AWS", json!(arn)),
                            Principal::Anyone => ("AWS", json!("*")),
                        };
                        principal.insert(key.into(), value);
                    }
                    body.insert("Principal".into(), Value::Object(principal));
                }
                body.insert("Action".into(), json!(s.actions));
                body.insert("Resource".into(), json!(s.resources));
                if !s.conditions.is_empty() {
                    let mut condition = serde_json::Map::new();
                    for c in &s.conditions {
                        let test = condition
                            .entry(c.test.to_owned())
                            .or_insert_with(|| json!({}));
                        test[c.variable] = json!(c.values);
                    }
                    body.insert("Condition".into(), Value::Object(condition));
                }
                Value::Object(body)
            })
            .collect();
        let document = json!({"Version": "2012-10-17", "Statement": statements});
        // The Exprs were rendered (and escaped) when serialized above, so the JSON text is a template that
        // Terraform turns into the policy with its references filled in.
        Expr::Template(document.to_string())
    }
}
